//! Exact quantities and money: `Decimal` at the edges, a scaled `i64` in storage.
//! Input with more decimal places than the store keeps is refused, never rounded.

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest magnitude accepted, in whole units; far beyond any real stock or order, and well
/// inside `i64` once scaled so that sums of many values cannot overflow.
pub const MAX_WHOLE_UNITS: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("decimal: not a decimal number")]
    NotDecimal,
    #[error("decimal_places: at most {0} decimal places are kept")]
    TooPrecise(u32),
    #[error("range: magnitude must not exceed {MAX_WHOLE_UNITS}")]
    OutOfRange,
}

impl DecimalError {
    pub fn rule(&self) -> &'static str {
        match self {
            DecimalError::NotDecimal => "decimal",
            DecimalError::TooPrecise(_) => "decimal_places",
            DecimalError::OutOfRange => "range",
        }
    }
}

/// A decimal stored as an integer count of `10^-SCALE` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Scaled<const SCALE: u32>(i64);

/// Quantities of medicine, in thousandths of the product's unit (tablet, ml, patch, ...).
pub type Quantity = Scaled<3>;
/// Money in GBP, in ten-thousandths of a pound (pack prices such as 0.3333 are common).
pub type Money = Scaled<4>;
/// A percentage such as a VAT rate, to two decimal places.
pub type Percent = Scaled<2>;

impl<const SCALE: u32> Scaled<SCALE> {
    pub const ZERO: Self = Scaled(0);

    fn factor() -> i64 {
        10i64.pow(SCALE)
    }

    pub fn from_scaled(raw: i64) -> Self {
        Scaled(raw)
    }

    /// The stored integer.
    pub fn scaled(self) -> i64 {
        self.0
    }

    pub fn from_decimal(value: Decimal) -> Result<Self, DecimalError> {
        let value = value.normalize();
        if value.scale() > SCALE {
            return Err(DecimalError::TooPrecise(SCALE));
        }
        if value.abs() > Decimal::from(MAX_WHOLE_UNITS) {
            return Err(DecimalError::OutOfRange);
        }
        let raw = value
            .checked_mul(Decimal::from(Self::factor()))
            .ok_or(DecimalError::OutOfRange)?;
        raw.to_i64().map(Scaled).ok_or(DecimalError::OutOfRange)
    }

    pub fn whole(units: i64) -> Self {
        Scaled(units * Self::factor())
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, SCALE).normalize()
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Scaled)
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Scaled)
    }

    pub fn abs(self) -> Self {
        Scaled(self.0.abs())
    }
}

impl<const SCALE: u32> std::ops::Neg for Scaled<SCALE> {
    type Output = Self;

    fn neg(self) -> Self {
        Scaled(-self.0)
    }
}

impl<const SCALE: u32> fmt::Display for Scaled<SCALE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

impl<const SCALE: u32> FromStr for Scaled<SCALE> {
    type Err = DecimalError;

    /// Exactly as documented: an optional minus, whole digits without leading zeros, and an
    /// optional point followed by digits (`62.5`, `-0.25`, `1000`); no spaces, plus signs,
    /// exponents or bare points.
    fn from_str(s: &str) -> Result<Self, DecimalError> {
        let trimmed = s;
        let unsigned = s.strip_prefix('-').unwrap_or(s);
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (unsigned, None),
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole)
            || (whole.len() > 1 && whole.starts_with('0'))
            || fraction.is_some_and(|f| !digits(f))
        {
            return Err(DecimalError::NotDecimal);
        }
        let whole_digits = trimmed
            .trim_start_matches(['-', '+'])
            .split('.')
            .next()
            .unwrap_or("")
            .trim_start_matches('0')
            .len();
        if whole_digits > 13 {
            return Err(DecimalError::OutOfRange);
        }
        let value = Decimal::from_str_exact(trimmed).map_err(|e| match e {
            rust_decimal::Error::Underflow => DecimalError::TooPrecise(SCALE),
            rust_decimal::Error::ExceedsMaximumPossibleValue
            | rust_decimal::Error::LessThanMinimumPossibleValue => DecimalError::OutOfRange,
            _ => DecimalError::NotDecimal,
        })?;
        Self::from_decimal(value)
    }
}

impl<const SCALE: u32> Serialize for Scaled<SCALE> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.to_decimal())
    }
}

const NUMBER_REFUSED: &str = "decimal: send decimals as strings, e.g. \"62.5\", so they stay exact";

struct ScaledVisitor<const SCALE: u32>;

impl<const SCALE: u32> Visitor<'_> for ScaledVisitor<SCALE> {
    type Value = Scaled<SCALE>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a decimal string such as \"62.5\" with at most {SCALE} decimal places"
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        v.parse().map_err(|e: DecimalError| E::custom(e))
    }

    // Decimals are documented as strings; a JSON number (and a float has already lost its
    // exactness by the time it arrives) is refused.
    fn visit_i64<E: de::Error>(self, _v: i64) -> Result<Self::Value, E> {
        Err(E::custom(NUMBER_REFUSED))
    }

    fn visit_u64<E: de::Error>(self, _v: u64) -> Result<Self::Value, E> {
        Err(E::custom(NUMBER_REFUSED))
    }

    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Self::Value, E> {
        Err(E::custom(NUMBER_REFUSED))
    }
}

impl<'de, const SCALE: u32> Deserialize<'de> for Scaled<SCALE> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScaledVisitor::<SCALE>)
    }
}

impl<const SCALE: u32> utoipa::PartialSchema for Scaled<SCALE> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(format!(
                "Exact decimal as a string, at most {SCALE} decimal places"
            )))
            .pattern(Some(format!(
                "^-?(0|[1-9][0-9]{{0,12}})(\\.[0-9]{{1,{SCALE}}}0*)?$"
            )))
            .examples([serde_json::json!("62.5")])
            .into()
    }
}

impl<const SCALE: u32> utoipa::ToSchema for Scaled<SCALE> {
    // One component per scale: a money amount keeps more places than a quantity.
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(match SCALE {
            2 => "Percent",
            3 => "Quantity",
            4 => "Money",
            _ => "Decimal",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_round_trips_through_storage() {
        let q: Quantity = "62.5".parse().unwrap();
        assert_eq!(q.scaled(), 62_500);
        assert_eq!(Quantity::from_scaled(62_500).to_string(), "62.5");
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"62.5\"");
        let back: Quantity = serde_json::from_str("\"62.500\"").unwrap();
        assert_eq!(back, q);
    }

    #[test]
    fn money_keeps_four_places() {
        let m: Money = "0.3333".parse().unwrap();
        assert_eq!(m.scaled(), 3_333);
        assert_eq!(m.to_string(), "0.3333");
    }

    #[test]
    fn more_places_than_stored_is_refused_not_rounded() {
        assert_eq!(
            "1.0005".parse::<Quantity>(),
            Err(DecimalError::TooPrecise(3))
        );
        assert_eq!("0.33333".parse::<Money>(), Err(DecimalError::TooPrecise(4)));
        // Trailing zeros carry no information and are accepted.
        assert_eq!("1.5000".parse::<Quantity>().unwrap().scaled(), 1_500);
    }

    #[test]
    fn overflow_is_refused() {
        assert_eq!(
            "1000000000001".parse::<Quantity>(),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(
            "-1000000000001".parse::<Money>(),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(
            "99999999999999999999999999999".parse::<Quantity>(),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(
            "1000000000000".parse::<Quantity>().unwrap().scaled(),
            1_000_000_000_000_000
        );
    }

    #[test]
    fn floats_and_junk_are_refused() {
        assert!(serde_json::from_str::<Quantity>("0.1").is_err());
        assert!(serde_json::from_str::<Quantity>("7").is_err());
        assert_eq!(
            serde_json::from_str::<Quantity>("\"7\"").unwrap().scaled(),
            7_000
        );
        assert_eq!("1e3".parse::<Quantity>(), Err(DecimalError::NotDecimal));
        assert_eq!("".parse::<Quantity>(), Err(DecimalError::NotDecimal));
        assert_eq!("abc".parse::<Quantity>(), Err(DecimalError::NotDecimal));
    }

    #[test]
    fn only_the_documented_form_is_accepted() {
        for bad in [
            " 5", "5 ", "+5", "5.", ".5", "05", "1e3", "-", "", "5,0", "0x10",
        ] {
            assert_eq!(
                bad.parse::<Quantity>(),
                Err(DecimalError::NotDecimal),
                "{bad:?}"
            );
        }
        for number in ["5", "5.5", "-1"] {
            assert!(
                serde_json::from_str::<Quantity>(number).is_err(),
                "{number}"
            );
        }
        for good in ["0", "0.5", "-0.25", "1000", "62.125"] {
            assert!(good.parse::<Quantity>().is_ok(), "{good}");
        }
    }

    #[test]
    fn negative_values_are_kept_exactly() {
        let q: Quantity = "-2.25".parse().unwrap();
        assert!(q.is_negative());
        assert_eq!(q.scaled(), -2_250);
        assert_eq!((-q).to_string(), "2.25");
    }
}
