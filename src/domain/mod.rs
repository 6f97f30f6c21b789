//! Types and rules of coffee runs; no I/O here.

mod events;
pub mod fairness;
mod order;

pub use events::{DomainEvent, EventFields, EventKind, EventPayload, RunScope};
pub use order::{
    Customizations, DrinkType, OrderField, OrderInput, OrderInputError, Size, describe_order,
};
