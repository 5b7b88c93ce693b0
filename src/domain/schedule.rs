//! When a prescription's doses fall due, close to FHIR Timing: round times every day, every N
//! days, on named weekdays, weekly, monthly, once, a stepped plan whose dose changes by date
//! (reducing and titrating regimens), or when required with a minimum interval and a maximum
//! in 24 hours. Each runs from the prescription's start date to its optional end date.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::domain::Quantity;
use crate::text_enum;

text_enum!(ScheduleKind {
    Daily => "daily",
    EveryNDays => "every_n_days",
    Weekdays => "weekdays",
    Weekly => "weekly",
    Monthly => "monthly",
    Once => "once",
    Stepped => "stepped",
    AsNeeded => "as_needed",
});

text_enum!(Day {
    Mon => "mon",
    Tue => "tue",
    Wed => "wed",
    Thu => "thu",
    Fri => "fri",
    Sat => "sat",
    Sun => "sun",
});

impl Day {
    pub fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// One step of a stepped plan: the dose from one date to another, both included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub dose: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    /// Every N days (every_n_days).
    pub every_days: Option<i64>,
    /// The days of the week (weekdays; one day for weekly).
    pub days: Vec<Day>,
    /// The day of the month (monthly), 1 to 28 so that every month has it.
    pub day_of_month: Option<i64>,
    pub steps: Vec<Step>,
    /// When required: the least time between two doses.
    pub min_interval_minutes: Option<i64>,
}

/// How far back a dose that stays due is looked for.
pub const OVERDUE_LOOKBACK_DAYS: i64 = 31;

impl Schedule {
    fn runs_on(&self, date: NaiveDate) -> bool {
        date >= self.start && self.end.is_none_or(|end| date <= end)
    }

    /// Whether a dose falls due on the date (at each of its round times).
    pub fn due_on(&self, date: NaiveDate) -> bool {
        if !self.runs_on(date) {
            return false;
        }
        let since = (date - self.start).num_days();
        match self.kind {
            ScheduleKind::Daily => true,
            ScheduleKind::EveryNDays => self.every_days.is_some_and(|n| n > 0 && since % n == 0),
            ScheduleKind::Weekdays | ScheduleKind::Weekly => {
                self.days.iter().any(|d| d.weekday() == date.weekday())
            }
            ScheduleKind::Monthly => self
                .day_of_month
                .is_some_and(|d| i64::from(date.day()) == d),
            ScheduleKind::Once => date == self.start,
            ScheduleKind::Stepped => self.step_on(date).is_some(),
            ScheduleKind::AsNeeded => false,
        }
    }

    /// The step in force on a date, for a stepped plan.
    fn step_on(&self, date: NaiveDate) -> Option<&Step> {
        self.steps.iter().find(|s| s.from <= date && date <= s.to)
    }

    /// The dose due on a date: a stepped plan's step, otherwise the prescribed dose.
    pub fn dose_on(&self, date: NaiveDate, prescribed: Quantity) -> Quantity {
        match self.kind {
            ScheduleKind::Stepped => self.step_on(date).map_or(prescribed, |s| s.dose),
            _ => prescribed,
        }
    }

    /// Doses a week or more apart stay due until given or recorded as not given: missing one
    /// is not made good by the next round.
    pub fn keeps_due(&self) -> bool {
        match self.kind {
            ScheduleKind::Weekly | ScheduleKind::Monthly | ScheduleKind::Once => true,
            ScheduleKind::EveryNDays => self.every_days.is_some_and(|n| n >= 7),
            _ => false,
        }
    }

    /// The due dates from `from` to `to`, both included.
    pub fn due_between(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        from.iter_days()
            .take_while(|d| *d <= to)
            .filter(|d| self.due_on(*d))
            .collect()
    }

    /// Whether doses come at most once a week, given how many round times each due day has:
    /// what a weekly-only medicine (methotrexate) must keep to.
    pub fn at_most_weekly(&self, times_a_day: usize) -> bool {
        if times_a_day > 1 {
            return false;
        }
        match self.kind {
            ScheduleKind::Weekly => self.days.len() == 1,
            ScheduleKind::Weekdays => self.days.len() == 1,
            ScheduleKind::Monthly | ScheduleKind::Once => true,
            ScheduleKind::EveryNDays => self.every_days.is_some_and(|n| n >= 7),
            ScheduleKind::Daily | ScheduleKind::Stepped | ScheduleKind::AsNeeded => false,
        }
    }

    /// How many days a week doses fall due, for the maximum daily dose check: the busiest day.
    pub fn days_with_doses_per_week(&self) -> i64 {
        match self.kind {
            ScheduleKind::Weekdays | ScheduleKind::Weekly => self.days.len() as i64,
            ScheduleKind::Monthly | ScheduleKind::Once => 1,
            ScheduleKind::EveryNDays => {
                7_i64.div_euclid(self.every_days.unwrap_or(1).max(1)).max(1)
            }
            _ => 7,
        }
    }

    /// Days as stored: `mon,thu`.
    pub fn days_text(&self) -> Option<String> {
        (!self.days.is_empty()).then(|| {
            self.days
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    pub fn parse_days(text: Option<&str>) -> Vec<Day> {
        text.map(|t| t.split(',').filter_map(Day::parse).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn schedule(kind: ScheduleKind) -> Schedule {
        Schedule {
            kind,
            // A Monday.
            start: d("2026-11-02"),
            end: None,
            every_days: None,
            days: vec![],
            day_of_month: None,
            steps: vec![],
            min_interval_minutes: None,
        }
    }

    #[test]
    fn each_kind_falls_due_on_its_days() {
        let daily = schedule(ScheduleKind::Daily);
        assert!(!daily.due_on(d("2026-11-01")));
        assert_eq!(daily.due_between(d("2026-11-02"), d("2026-11-04")).len(), 3);

        let mut every3 = schedule(ScheduleKind::EveryNDays);
        every3.every_days = Some(3);
        assert_eq!(
            every3.due_between(d("2026-11-02"), d("2026-11-10")),
            vec![d("2026-11-02"), d("2026-11-05"), d("2026-11-08")]
        );

        let mut weekly = schedule(ScheduleKind::Weekly);
        weekly.days = vec![Day::Thu];
        assert_eq!(
            weekly.due_between(d("2026-11-02"), d("2026-11-15")),
            vec![d("2026-11-05"), d("2026-11-12")]
        );

        let mut monthly = schedule(ScheduleKind::Monthly);
        monthly.day_of_month = Some(1);
        assert_eq!(
            monthly.due_between(d("2026-11-02"), d("2027-01-31")),
            vec![d("2026-12-01"), d("2027-01-01")]
        );

        let once = schedule(ScheduleKind::Once);
        assert_eq!(
            once.due_between(d("2026-11-01"), d("2026-11-30")),
            vec![d("2026-11-02")]
        );

        let mut ended = schedule(ScheduleKind::Daily);
        ended.end = Some(d("2026-11-03"));
        assert!(!ended.due_on(d("2026-11-04")));
        assert!(!schedule(ScheduleKind::AsNeeded).due_on(d("2026-11-02")));
    }

    #[test]
    fn a_stepped_plan_changes_the_dose_by_date() {
        let mut plan = schedule(ScheduleKind::Stepped);
        let q = |s: &str| s.parse::<Quantity>().unwrap();
        plan.steps = vec![
            Step {
                from: d("2026-11-02"),
                to: d("2026-11-04"),
                dose: q("10"),
            },
            Step {
                from: d("2026-11-05"),
                to: d("2026-11-07"),
                dose: q("5"),
            },
        ];
        assert_eq!(plan.dose_on(d("2026-11-03"), q("99")), q("10"));
        assert_eq!(plan.dose_on(d("2026-11-06"), q("99")), q("5"));
        assert!(!plan.due_on(d("2026-11-08")));
    }

    #[test]
    fn weekly_only_medicines_keep_to_once_a_week() {
        let mut weekly = schedule(ScheduleKind::Weekly);
        weekly.days = vec![Day::Mon];
        assert!(weekly.at_most_weekly(1));
        assert!(!weekly.at_most_weekly(2));
        assert!(!schedule(ScheduleKind::Daily).at_most_weekly(1));
        let mut twice = schedule(ScheduleKind::Weekdays);
        twice.days = vec![Day::Mon, Day::Thu];
        assert!(!twice.at_most_weekly(1));
        let mut every = schedule(ScheduleKind::EveryNDays);
        every.every_days = Some(6);
        assert!(!every.at_most_weekly(1));
        every.every_days = Some(7);
        assert!(every.at_most_weekly(1));
        assert!(weekly.keeps_due() && !schedule(ScheduleKind::Daily).keeps_due());
    }
}
