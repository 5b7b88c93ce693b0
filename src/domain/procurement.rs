//! Order arithmetic: exact line and order totals, and the value of goods received.
//!
//! A line's net is packs x pack price, exact. Its VAT is net x rate, rounded half away from
//! zero to the penny per line (HMRC allows rounding per line); an order's totals are the sums
//! of its lines, so they always add up. The value of a part-pack received is rounded to the
//! ten-thousandth of a pound that money is kept in.

use rust_decimal::{Decimal, RoundingStrategy};

use super::{Money, Percent, Quantity};
use crate::text_enum;

text_enum!(OrderStatus {
    Draft => "draft",
    Approved => "approved",
    Sent => "sent",
    PartlyReceived => "partly_received",
    Received => "received",
    Cancelled => "cancelled",
});

impl OrderStatus {
    /// Goods may be received against the order.
    pub fn receivable(self) -> bool {
        matches!(self, OrderStatus::Sent | OrderStatus::PartlyReceived)
    }
}

fn money(d: Decimal) -> Option<Money> {
    Money::from_decimal(d.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)).ok()
}

pub fn line_net(packs: i64, pack_price: Money) -> Option<Money> {
    pack_price
        .scaled()
        .checked_mul(packs)
        .map(Money::from_scaled)
}

pub fn line_vat(net: Money, rate: Percent) -> Option<Money> {
    let vat = net.to_decimal() * rate.to_decimal() / Decimal::ONE_HUNDRED;
    money(vat.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

/// What a quantity of units is worth at a pack price.
pub fn received_value(quantity: Quantity, pack_size: Quantity, pack_price: Money) -> Option<Money> {
    if pack_size.scaled() <= 0 {
        return None;
    }
    money(quantity.to_decimal() / pack_size.to_decimal() * pack_price.to_decimal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    #[test]
    fn awkward_prices_total_exactly() {
        let net = line_net(3, m("0.3333")).unwrap();
        assert_eq!(net.to_string(), "0.9999");
        let vat = line_vat(net, "20".parse().unwrap()).unwrap();
        assert_eq!(vat.to_string(), "0.2");
        assert_eq!(net.checked_add(vat).unwrap().to_string(), "1.1999");
        // 5% of 0.1 is half a penny: rounded away from zero.
        assert_eq!(
            line_vat(m("0.1"), "5".parse().unwrap())
                .unwrap()
                .to_string(),
            "0.01"
        );
        assert_eq!(
            line_vat(m("12.34"), "0".parse().unwrap())
                .unwrap()
                .to_string(),
            "0"
        );
    }

    #[test]
    fn value_of_part_packs() {
        let q = |s: &str| s.parse::<Quantity>().unwrap();
        assert_eq!(
            received_value(q("1000"), q("500"), m("2.99"))
                .unwrap()
                .to_string(),
            "5.98"
        );
        assert_eq!(
            received_value(q("1"), q("28"), m("0.3333"))
                .unwrap()
                .to_string(),
            "0.0119"
        );
        assert_eq!(received_value(q("1"), q("0"), m("1")), None);
    }

    #[test]
    fn only_sent_orders_are_received() {
        assert!(OrderStatus::Sent.receivable());
        assert!(OrderStatus::PartlyReceived.receivable());
        assert!(!OrderStatus::Approved.receivable());
        assert!(!OrderStatus::Received.receivable());
    }
}

text_enum!(
    /// The budget a medicine's cost falls on: opioid substitution and naloxone on the
    /// ring-fenced substance misuse funding, the rest on general pharmacy.
    ServiceLine {
        GeneralPharmacy => "general_pharmacy",
        SubstanceMisuse => "substance_misuse",
    }
);

/// The NHS financial year that starts on 1 April of `year`: (first day, last day).
pub fn financial_year(year: i32) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    Some((
        chrono::NaiveDate::from_ymd_opt(year, 4, 1)?,
        chrono::NaiveDate::from_ymd_opt(year + 1, 3, 31)?,
    ))
}

/// A straight-line forecast of the year's spend: what was spent in the days elapsed, carried
/// over the whole year, in the ten-thousandths money is kept in (half away from zero). Nothing
/// elapsed forecasts nothing.
pub fn straight_line_forecast(spent: i64, days_elapsed: i64, days_in_year: i64) -> i64 {
    if days_elapsed <= 0 {
        return 0;
    }
    let num = spent as i128 * days_in_year as i128;
    let den = days_elapsed as i128;
    let q = (2 * num + den) / (2 * den);
    q.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn the_financial_year_runs_april_to_march() {
        let (from, to) = financial_year(2026).unwrap();
        assert_eq!(from.to_string(), "2026-04-01");
        assert_eq!(to.to_string(), "2027-03-31");
    }

    #[test]
    fn the_forecast_carries_spend_over_the_year() {
        // £1,000.00 in 73 of 365 days is £5,000.00 a year.
        assert_eq!(straight_line_forecast(10_000_000, 73, 365), 50_000_000);
        assert_eq!(straight_line_forecast(10_000_000, 365, 365), 10_000_000);
        assert_eq!(straight_line_forecast(10_000_000, 0, 365), 0);
        // A third of a ten-thousandth rounds to the nearest one.
        assert_eq!(straight_line_forecast(1, 3, 4), 1);
    }
}
