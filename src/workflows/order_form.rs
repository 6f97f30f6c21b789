//! What the `/coffee` modal pre-fills (REQ-013, AC7).

use sqlx::PgPool;

use crate::{
    slack::views::{ModalPrefill, Usual},
    storage::preferences,
};

/// How many usual orders the modal, the Home tab and the REST API show (REQ-013).
pub const TOP_USUALS: usize = 3;

/// The user's last order and their top 3 by count; empty when they have never ordered.
pub async fn prefill(pool: &PgPool, user_id: &str) -> Result<ModalPrefill, sqlx::Error> {
    let all = preferences::all_for_user(pool, user_id).await?;
    Ok(ModalPrefill {
        last: all
            .iter()
            .max_by_key(|p| p.last_ordered_at)
            .map(Usual::from),
        top: all.iter().take(TOP_USUALS).map(Usual::from).collect(),
    })
}

impl From<&preferences::Preference> for Usual {
    fn from(p: &preferences::Preference) -> Self {
        Self {
            drink_type: p.drink_type.clone(),
            size: p.size.clone(),
            customizations: p.customizations.clone(),
            order_count: p.order_count,
        }
    }
}
