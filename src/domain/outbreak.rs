//! Outbreak vocabulary shared by prescribing and the outbreak records.

use crate::text_enum;

text_enum!(
    /// Why a course is given in an outbreak.
    OutbreakPurpose {
        Treatment => "treatment",
        Prophylaxis => "prophylaxis",
    }
);
