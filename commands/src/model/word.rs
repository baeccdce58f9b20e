//! The words medic stores and configures for its closed sets (platforms,
//! alert sources, severities, states), read back exhaustively: a word that
//! is none of them is an error naming it, never quietly some default.

/// A stored or configured word that is not one of its set's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {set} `{word}`")]
pub struct UnknownWord {
    /// What the word should have named (`platform`, `alert source`).
    pub set: &'static str,
    /// The word as found.
    pub word: String,
}

/// A closed set of values, each with one word.
pub trait Word: Sized + Copy + 'static {
    /// What the set is called in errors.
    const SET: &'static str;
    /// Every value, in declaration order.
    const ALL: &'static [Self];
    /// The value's word.
    fn as_str(self) -> &'static str;
    /// The value whose word is `word`.
    fn parse(word: &str) -> Result<Self, UnknownWord> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == word)
            .ok_or_else(|| UnknownWord {
                set: Self::SET,
                word: word.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alert::{AlertSource, Severity};
    use crate::model::inbound::Platform;
    use crate::model::incident::IncidentState;

    fn round_trips<W: Word + PartialEq + std::fmt::Debug>() {
        for &v in W::ALL {
            assert_eq!(W::parse(v.as_str()), Ok(v));
        }
    }

    #[test]
    fn every_word_reads_back_as_its_value() {
        round_trips::<Platform>();
        round_trips::<AlertSource>();
        round_trips::<Severity>();
        round_trips::<IncidentState>();
    }

    #[test]
    fn an_unknown_word_is_an_error_naming_it_not_a_default() {
        assert_eq!(
            AlertSource::parse("datadog").unwrap_err().to_string(),
            "unknown alert source `datadog`"
        );
        assert!(Platform::parse("Slack").is_err());
        assert!(Severity::parse("").is_err());
    }
}
