//! What a user may order, parsed once at the edge.

use std::fmt;

/// The drinks on offer (REQ-005).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrinkType {
    Latte,
    Espresso,
    Cappuccino,
    Americano,
    Mocha,
}

impl DrinkType {
    pub const ALL: [DrinkType; 5] = [
        DrinkType::Latte,
        DrinkType::Espresso,
        DrinkType::Cappuccino,
        DrinkType::Americano,
        DrinkType::Mocha,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DrinkType::Latte => "Latte",
            DrinkType::Espresso => "Espresso",
            DrinkType::Cappuccino => "Cappuccino",
            DrinkType::Americano => "Americano",
            DrinkType::Mocha => "Mocha",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == value)
    }
}

/// Cup sizes (REQ-005).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    Small,
    Medium,
    Large,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Large];

    pub fn as_str(self) -> &'static str {
        match self {
            Size::Small => "Small",
            Size::Medium => "Medium",
            Size::Large => "Large",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Free text such as "oat milk, extra shot": on one line (line breaks and tabs become
/// spaces), trimmed, at most [`Customizations::MAX_CHARS`] characters, no other control
/// characters. Empty means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customizations(String);

impl Customizations {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(value: &str) -> Result<Option<Self>, &'static str> {
        let one_line = value.replace("\r\n", " ").replace(['\n', '\r', '\t'], " ");
        let trimmed = one_line.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err("Keep customizations to 200 characters or fewer.");
        }
        if trimmed.chars().any(char::is_control) {
            return Err("Customizations can't contain control characters.");
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The modal's input blocks, named as Slack names them in `view.state.values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    DrinkType,
    Size,
    Customizations,
}

impl OrderField {
    pub fn block_id(self) -> &'static str {
        match self {
            OrderField::DrinkType => "drink_type",
            OrderField::Size => "size",
            OrderField::Customizations => "customizations",
        }
    }
}

/// One field the user has to fix, with the text Slack shows under it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", field.block_id())]
pub struct OrderInputError {
    pub field: OrderField,
    pub message: String,
}

/// A valid order, before it is tied to a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderInput {
    pub drink_type: DrinkType,
    pub size: Size,
    pub customizations: Option<Customizations>,
}

impl OrderInput {
    /// Parses the raw choices; every invalid field is reported, not just the first.
    pub fn parse(
        drink_type: Option<&str>,
        size: Option<&str>,
        customizations: Option<&str>,
    ) -> Result<Self, Vec<OrderInputError>> {
        let mut errors = Vec::new();
        let drink = match drink_type.map(str::trim).filter(|v| !v.is_empty()) {
            None => field_error(&mut errors, OrderField::DrinkType, "Pick a drink."),
            Some(v) => DrinkType::parse(v).or_else(|| {
                field_error(
                    &mut errors,
                    OrderField::DrinkType,
                    "Pick one of Latte, Espresso, Cappuccino, Americano or Mocha.",
                )
            }),
        };
        let size = match size.map(str::trim).filter(|v| !v.is_empty()) {
            None => field_error(&mut errors, OrderField::Size, "Pick a size."),
            Some(v) => Size::parse(v).or_else(|| {
                field_error(
                    &mut errors,
                    OrderField::Size,
                    "Pick Small, Medium or Large.",
                )
            }),
        };
        let customizations = match Customizations::parse(customizations.unwrap_or_default()) {
            Ok(c) => c,
            Err(message) => {
                field_error::<()>(&mut errors, OrderField::Customizations, message);
                None
            }
        };
        match (drink, size) {
            (Some(drink_type), Some(size)) if errors.is_empty() => Ok(Self {
                drink_type,
                size,
                customizations,
            }),
            _ => Err(errors),
        }
    }

    /// "Large Latte (oat milk)": plain text, escape it before it reaches Slack.
    pub fn describe(&self) -> String {
        describe_order(
            self.size.as_str(),
            self.drink_type.as_str(),
            self.customizations.as_ref().map(Customizations::as_str),
        )
    }
}

/// "Large Latte (oat milk)" from stored columns.
pub fn describe_order(size: &str, drink: &str, customizations: Option<&str>) -> String {
    match customizations.filter(|c| !c.is_empty()) {
        Some(c) => format!("{size} {drink} ({c})"),
        None => format!("{size} {drink}"),
    }
}

fn field_error<T>(
    errors: &mut Vec<OrderInputError>,
    field: OrderField,
    message: &str,
) -> Option<T> {
    errors.push(OrderInputError {
        field,
        message: message.to_owned(),
    });
    None
}

impl fmt::Display for DrinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: &[OrderInputError]) -> Vec<OrderField> {
        errors.iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_complete_order_parses() {
        let order = OrderInput::parse(Some("Latte"), Some("Large"), Some("  oat milk ")).unwrap();
        assert_eq!(order.drink_type, DrinkType::Latte);
        assert_eq!(order.size, Size::Large);
        assert_eq!(order.customizations.unwrap().as_str(), "oat milk");
    }

    #[test]
    fn blank_customizations_mean_none() {
        let order = OrderInput::parse(Some("Mocha"), Some("Small"), Some("   ")).unwrap();
        assert!(order.customizations.is_none());
        assert_eq!(order.describe(), "Small Mocha");
    }

    #[test]
    fn every_bad_field_is_reported() {
        let long = "x".repeat(201);
        let errors = OrderInput::parse(Some("Tea"), None, Some(&long)).unwrap_err();
        assert_eq!(
            fields(&errors),
            vec![
                OrderField::DrinkType,
                OrderField::Size,
                OrderField::Customizations
            ]
        );
    }

    #[test]
    fn customizations_limit_counts_characters_not_bytes() {
        let accented = "é".repeat(200);
        assert!(Customizations::parse(&accented).unwrap().is_some());
        assert!(Customizations::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(Customizations::parse("oat\u{0007}milk").is_err());
    }

    #[test]
    fn line_breaks_and_tabs_become_spaces() {
        let parsed = Customizations::parse("oat\nmilk\r\nextra\tshot\n").unwrap();
        assert_eq!(parsed.unwrap().as_str(), "oat milk extra shot");
    }

    #[test]
    fn drink_and_size_are_case_sensitive_slack_values() {
        assert!(DrinkType::parse("latte").is_none());
        assert!(Size::parse("large").is_none());
        assert_eq!(DrinkType::ALL.len(), 5);
    }
}
