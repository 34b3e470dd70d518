//! TTL policies and durations.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A duration in milliseconds, written in the language as `500ms`, `60s`, `15m`, `24h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// Parses `7d`, `15m`, `60s`, `500ms`, `24h`. Returns `None` on anything else, or on overflow.
    ///
    /// ```
    /// # use keyschema::Millis;
    /// assert_eq!(Millis::parse("7d"), Some(Millis(604_800_000)));
    /// assert_eq!(Millis::parse("7"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = text.split_at(digits);
        let number: u64 = number.parse().ok()?;
        let factor = TimeUnit::from_suffix(unit)?.millis();
        number.checked_mul(factor).map(Self)
    }

    /// Whole seconds, rounded down.
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }
}

impl fmt::Display for Millis {
    /// The largest unit that divides the value: `604800000` prints as `7d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for unit in [TimeUnit::Days, TimeUnit::Hours, TimeUnit::Minutes, TimeUnit::Seconds] {
            if self.0 != 0 && self.0 % unit.millis() == 0 {
                return write!(f, "{}{}", self.0 / unit.millis(), unit.suffix());
            }
        }
        write!(f, "{}ms", self.0)
    }
}

/// The unit of a number: of an environment variable's value, or of a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Milliseconds.
    Millis,
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Days.
    Days,
}

impl TimeUnit {
    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "ms" => Self::Millis,
            "s" => Self::Seconds,
            "m" => Self::Minutes,
            "h" => Self::Hours,
            "d" => Self::Days,
            _ => return None,
        })
    }

    /// Parses a unit name as written in `env(..., unit = days)`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ms" | "millis" | "milliseconds" => Self::Millis,
            "s" | "seconds" => Self::Seconds,
            "m" | "minutes" => Self::Minutes,
            "h" | "hours" => Self::Hours,
            "d" | "days" => Self::Days,
            _ => return None,
        })
    }

    /// Milliseconds in one unit.
    pub fn millis(self) -> u64 {
        match self {
            Self::Millis => 1,
            Self::Seconds => 1_000,
            Self::Minutes => 60_000,
            Self::Hours => 3_600_000,
            Self::Days => 86_400_000,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Millis => "ms",
            Self::Seconds => "s",
            Self::Minutes => "m",
            Self::Hours => "h",
            Self::Days => "d",
        }
    }

    /// The name used in `unit = ...`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Millis => "ms",
            Self::Seconds => "seconds",
            Self::Minutes => "minutes",
            Self::Hours => "hours",
            Self::Days => "days",
        }
    }
}

/// How long a key lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TtlPolicy {
    /// The key never expires.
    None,
    /// A fixed duration.
    Fixed {
        /// The duration.
        millis: Millis,
    },
    /// An environment variable, read once at start-up, with a default.
    Env {
        /// The variable's name.
        var: String,
        /// The value when the variable is unset.
        default: Millis,
        /// The unit of the variable's value.
        unit: TimeUnit,
    },
    /// A multiple of another policy (`2 * env(POLL, 5s)`: twice the poll interval).
    Multiple {
        /// The factor.
        factor: u32,
        /// The policy multiplied.
        base: Box<Self>,
    },
    /// Chosen by each write, at most `max` (`per_write(max = 6h)`); a write that chooses none
    /// gets `max`.
    PerWrite {
        /// The bound, itself a policy (a duration or an environment variable).
        max: Box<Self>,
    },
}

/// Why an environment variable could not give a TTL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TtlError {
    /// The variable's value is not a whole number.
    #[error("environment variable {var}={value:?} is not a whole number of {unit}")]
    NotANumber {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// The unit expected.
        unit: &'static str,
    },
    /// The value is too large.
    #[error("environment variable {var}={value:?} overflows a duration")]
    Overflow {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
    /// The value is zero: every write would delete the key at once (`PEXPIRE key 0`).
    #[error("environment variable {var}={value:?} gives a TTL of zero, which deletes every key it is applied to; unset it for the default, or give a positive number")]
    Zero {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
}

impl TtlPolicy {
    /// The duration when no environment variable is set: the declared default.
    pub fn default_millis(&self) -> Option<Millis> {
        // With no variables set, resolution cannot fail.
        self.resolve(|_| None).ok().flatten()
    }

    /// Resolves the policy with `lookup` giving environment variables; `Ok(None)` means no TTL.
    /// An unparsable or zero-free overflowing value is an error, never a silent default.
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String> + Copy) -> Result<Option<Millis>, TtlError> {
        Ok(match self {
            Self::None => None,
            Self::Fixed { millis } => Some(*millis),
            Self::Env { var, default, unit } => match lookup(var) {
                None => Some(*default),
                Some(value) => {
                    let trimmed = value.trim();
                    let number: u64 = trimmed.parse().map_err(|_| TtlError::NotANumber {
                        var: var.clone(),
                        value: value.clone(),
                        unit: unit.name(),
                    })?;
                    let millis = number.checked_mul(unit.millis()).ok_or_else(|| TtlError::Overflow {
                        var: var.clone(),
                        value: value.clone(),
                    })?;
                    if millis == 0 {
                        return Err(TtlError::Zero {
                            var: var.clone(),
                            value: value.clone(),
                        });
                    }
                    Some(Millis(millis))
                }
            },
            Self::PerWrite { max } => max.resolve(lookup)?,
            Self::Multiple { factor, base } => match base.resolve(lookup)? {
                None => None,
                Some(Millis(millis)) => Some(Millis(millis.checked_mul(u64::from(*factor)).ok_or_else(|| {
                    TtlError::Overflow {
                        var: self.env_var().unwrap_or_default().to_string(),
                        value: millis.to_string(),
                    }
                })?)),
            },
        })
    }

    /// The environment variable the policy reads, if any.
    pub fn env_var(&self) -> Option<&str> {
        match self {
            Self::Env { var, .. } => Some(var),
            Self::Multiple { base, .. } | Self::PerWrite { max: base } => base.env_var(),
            _ => None,
        }
    }

    /// Whether keys under this policy never expire.
    pub fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }

    /// Whether each write chooses the TTL (within a bound).
    pub fn is_per_write(&self) -> bool {
        matches!(self, Self::PerWrite { .. })
    }
}

impl fmt::Display for TtlPolicy {
    /// The form used in docs: `7d`, `None`, `7d (JOB_META_TTL_SECONDS)`, `2×poll (10s, POLL)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Fixed { millis } => write!(f, "{millis}"),
            Self::Env { var, default, .. } => write!(f, "{default} (`{var}`)"),
            Self::Multiple { factor, base } => match base.as_ref() {
                Self::Env { var, default, .. } => {
                    let total = default.0.saturating_mul(u64::from(*factor));
                    write!(f, "{factor}×{default} = {} (`{var}`)", Millis(total))
                }
                other => write!(f, "{factor}×{other}"),
            },
            Self::PerWrite { max } => write!(f, "per write, at most {max}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        for (text, millis) in [("90s", 90_000), ("15m", 900_000), ("36h", 129_600_000), ("500ms", 500)] {
            assert_eq!(Millis::parse(text), Some(Millis(millis)));
            assert_eq!(Millis(millis).to_string(), text);
        }
        for bad in ["", "s", "7", "7x", "-1s", "99999999999999999999d", "1.5h"] {
            assert_eq!(Millis::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn env_policies_resolve_with_their_unit() {
        let policy = TtlPolicy::Env {
            var: "DAYS".into(),
            default: Millis(30 * 86_400_000),
            unit: TimeUnit::Days,
        };
        assert_eq!(policy.resolve(|_| None), Ok(Some(Millis(30 * 86_400_000))));
        assert_eq!(policy.resolve(|_| Some("2".into())), Ok(Some(Millis(2 * 86_400_000))));
        assert!(matches!(
            policy.resolve(|_| Some("2d".into())),
            Err(TtlError::NotANumber { .. })
        ));
        let twice = TtlPolicy::Multiple {
            factor: 2,
            base: Box::new(policy),
        };
        assert_eq!(twice.resolve(|_| Some("1".into())), Ok(Some(Millis(2 * 86_400_000))));
    }

    #[test]
    fn a_zero_from_the_environment_is_an_error() {
        let policy = TtlPolicy::Env {
            var: "TTL".into(),
            default: Millis(1000),
            unit: TimeUnit::Seconds,
        };
        assert!(matches!(
            policy.resolve(|_| Some("0".into())),
            Err(TtlError::Zero { .. })
        ));
        let per_write = TtlPolicy::PerWrite { max: Box::new(policy) };
        assert!(matches!(
            per_write.resolve(|_| Some(" 0 ".into())),
            Err(TtlError::Zero { .. })
        ));
        assert_eq!(per_write.resolve(|_| None), Ok(Some(Millis(1000))));
        assert_eq!(per_write.to_string(), "per write, at most 1s (`TTL`)");
    }
}
