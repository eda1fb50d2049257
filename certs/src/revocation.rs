//! Revocation as a CRL states it: the reasons people give, and one line
//! of the list.

use time::OffsetDateTime;

/// Why a certificate was revoked (the CRL reason codes people use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl RevocationReason {
    pub const NAMES: [&'static str; 5] = [
        "unspecified",
        "key-compromise",
        "affiliation-changed",
        "superseded",
        "cessation-of-operation",
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "unspecified" => Self::Unspecified,
            "key-compromise" => Self::KeyCompromise,
            "affiliation-changed" => Self::AffiliationChanged,
            "superseded" => Self::Superseded,
            "cessation-of-operation" => Self::CessationOfOperation,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "key-compromise",
            Self::AffiliationChanged => "affiliation-changed",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessation-of-operation",
        }
    }

    pub(crate) fn code(self) -> rcgen::RevocationReason {
        match self {
            Self::Unspecified => rcgen::RevocationReason::Unspecified,
            Self::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            Self::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            Self::Superseded => rcgen::RevocationReason::Superseded,
            Self::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        }
    }
}

/// One line of a CRL.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    pub serial_hex: String,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
}
