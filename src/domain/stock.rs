//! Stock and formulary vocabulary and the rules of issuing stock.

use chrono::NaiveDate;

use crate::text_enum;

text_enum!(
    /// Controlled drug schedule under the Misuse of Drugs Regulations 2001.
    CdSchedule {
        None => "none",
        S1 => "1",
        S2 => "2",
        S3 => "3",
        S4Part1 => "4p1",
        S4Part2 => "4p2",
        S5 => "5",
    }
);

text_enum!(LocationKind {
    PharmacyStore => "pharmacy_store",
    CdCabinet => "cd_cabinet",
    TreatmentRoom => "treatment_room",
    AdministrationPoint => "administration_point",
    Quarantine => "quarantine",
});

text_enum!(BatchStatus {
    Available => "available",
    Quarantined => "quarantined",
    Recalled => "recalled",
});

text_enum!(Possession {
    InPossession => "in_possession",
    Supervised => "supervised",
});

text_enum!(DmdType {
    Vmp => "vmp",
    Amp => "amp",
});

text_enum!(ProductStatus {
    Active => "active",
    Retired => "retired",
});

text_enum!(
    /// Why stock moved. Every change of a balance is one of these.
    MovementReason {
        Receipt => "receipt",
        TransferOut => "transfer_out",
        TransferIn => "transfer_in",
        DoseGiven => "dose_given",
        IpSupply => "ip_supply",
        Adjustment => "adjustment",
        StocktakeVariance => "stocktake_variance",
        ExpiryWriteOff => "expiry_write_off",
        Wastage => "wastage",
        Destruction => "destruction",
        PatientReturn => "patient_return",
        ReturnToSupplier => "return_to_supplier",
        Correction => "correction",
    }
);

impl MovementReason {
    /// Reasons that hand stock on for use by a patient or another location. Removing stock
    /// for disposal (expiry, wastage, destruction, return to supplier) is always allowed,
    /// because that is exactly what happens to expired and recalled stock.
    pub fn is_issue(self) -> bool {
        matches!(
            self,
            MovementReason::TransferOut | MovementReason::DoseGiven | MovementReason::IpSupply
        )
    }

    /// The sign a movement of this reason must have: Some(true) in, Some(false) out, None either.
    pub fn direction(self) -> Option<bool> {
        match self {
            MovementReason::Receipt
            | MovementReason::TransferIn
            | MovementReason::PatientReturn => Some(true),
            MovementReason::TransferOut
            | MovementReason::DoseGiven
            | MovementReason::IpSupply
            | MovementReason::ExpiryWriteOff
            | MovementReason::Wastage
            | MovementReason::Destruction
            | MovementReason::ReturnToSupplier => Some(false),
            MovementReason::Adjustment
            | MovementReason::StocktakeVariance
            | MovementReason::Correction => None,
        }
    }
}

/// Why a batch may not be issued today, if it may not.
pub fn issue_blocked(
    status: BatchStatus,
    expiry: NaiveDate,
    today: NaiveDate,
) -> Option<&'static str> {
    match status {
        BatchStatus::Quarantined => Some("batch_quarantined"),
        BatchStatus::Recalled => Some("batch_recalled"),
        // A batch is usable up to and including its expiry date.
        BatchStatus::Available if expiry < today => Some("batch_expired"),
        BatchStatus::Available => None,
    }
}

/// One candidate batch for first-expiry-first-out allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FefoCandidate {
    pub batch_id: i64,
    pub expiry: NaiveDate,
    pub status: BatchStatus,
    pub available: i64,
}

/// Picks batches earliest expiry first, skipping any that may not be issued, until `wanted`
/// (scaled) is covered. Returns the picks and the shortfall (0 when fully covered).
pub fn allocate_fefo(
    mut candidates: Vec<FefoCandidate>,
    wanted: i64,
    today: NaiveDate,
) -> (Vec<(i64, i64)>, i64) {
    candidates.sort_by_key(|c| (c.expiry, c.batch_id));
    let mut remaining = wanted;
    let mut picks = Vec::new();
    for c in candidates {
        if remaining <= 0 {
            break;
        }
        if c.available <= 0 || issue_blocked(c.status, c.expiry, today).is_some() {
            continue;
        }
        let take = remaining.min(c.available);
        picks.push((c.batch_id, take));
        remaining -= take;
    }
    (picks, remaining.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn expired_quarantined_and_recalled_batches_are_not_issued() {
        let today = d("2026-11-21");
        assert_eq!(
            issue_blocked(BatchStatus::Available, d("2026-11-21"), today),
            None
        );
        assert_eq!(
            issue_blocked(BatchStatus::Available, d("2026-11-20"), today),
            Some("batch_expired")
        );
        assert_eq!(
            issue_blocked(BatchStatus::Quarantined, d("2027-01-01"), today),
            Some("batch_quarantined")
        );
        assert_eq!(
            issue_blocked(BatchStatus::Recalled, d("2027-01-01"), today),
            Some("batch_recalled")
        );
    }

    #[test]
    fn fefo_takes_earliest_usable_expiry_first() {
        let today = d("2026-11-21");
        let c = |id, exp: &str, status, available| FefoCandidate {
            batch_id: id,
            expiry: d(exp),
            status,
            available,
        };
        let candidates = vec![
            c(1, "2027-06-01", BatchStatus::Available, 10_000),
            c(2, "2026-12-01", BatchStatus::Available, 4_000),
            c(3, "2026-11-01", BatchStatus::Available, 50_000),
            c(4, "2026-11-30", BatchStatus::Recalled, 50_000),
        ];
        let (picks, short) = allocate_fefo(candidates.clone(), 6_000, today);
        assert_eq!(picks, vec![(2, 4_000), (1, 2_000)]);
        assert_eq!(short, 0);
        let (picks, short) = allocate_fefo(candidates, 20_000, today);
        assert_eq!(picks, vec![(2, 4_000), (1, 10_000)]);
        assert_eq!(short, 6_000);
    }

    #[test]
    fn reasons_have_fixed_directions() {
        assert_eq!(MovementReason::Receipt.direction(), Some(true));
        assert_eq!(MovementReason::DoseGiven.direction(), Some(false));
        assert_eq!(MovementReason::Adjustment.direction(), None);
        assert!(MovementReason::TransferOut.is_issue());
        assert!(!MovementReason::Destruction.is_issue());
    }
}
