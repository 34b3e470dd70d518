//! Rust names from schema names.

/// `jobID` → `job_id`, `unixSec` → `unix_sec`, `workflow-engine` → `workflow_engine`.
pub(crate) fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let previous_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            let previous_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (previous_lower || (previous_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    escape_keyword(out.trim_matches('_').to_string())
}

/// `job_state` → `JobState`, `RUNNING` → `Running`, `timed_out` → `TimedOut`.
pub(crate) fn pascal(name: &str) -> String {
    let mut out = String::new();
    for word in snake(name)
        .trim_start_matches("r#")
        .split('_')
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, 'V');
    }
    out
}

fn escape_keyword(name: String) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self",
        "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "yield", "box", "gen",
        "try",
    ];
    if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("p_{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("jobID"), "job_id");
        assert_eq!(snake("unixSec"), "unix_sec");
        assert_eq!(snake("keyID"), "key_id");
        assert_eq!(snake("key"), "key");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(pascal("job_state"), "JobState");
        assert_eq!(pascal("RUNNING"), "Running");
        assert_eq!(pascal("timed_out"), "TimedOut");
        assert_eq!(pascal("APPROVAL_REQUIRED"), "ApprovalRequired");
        assert_eq!(pascal("jobID"), "JobId");
    }
}
