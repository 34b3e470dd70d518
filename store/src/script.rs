//! Lua scripts as the store sends them: by hash (`EVALSHA`, reloaded on `NOSCRIPT` by the
//! connection), or whole (`EVAL`) inside a pipeline that waits for replicas.

use std::borrow::Cow;

/// A Lua script kept with its source: a primitive's (static) or one made at run time (a
/// transaction's, for its shape).
pub(crate) struct StoredScript {
    pub(crate) source: Cow<'static, str>,
    pub(crate) script: redis::Script,
}

impl StoredScript {
    pub(crate) fn new(source: impl Into<Cow<'static, str>>) -> Self {
        let source = source.into();
        let script = redis::Script::new(&source);
        Self { source, script }
    }

    /// A call of this script on `keys`; its arguments follow with [`ScriptCall::arg`].
    pub(crate) fn call(&self, keys: &[&str]) -> ScriptCall<'_> {
        // Room for the keys and a few short arguments, so that building the command allocates
        // twice (its bytes, its argument list) rather than growing both step by step.
        let key_bytes: usize = keys.iter().map(|key| key.len()).sum();
        let mut cmd = redis::Cmd::with_capacity(3 + keys.len() + 8, 64 + key_bytes + 96);
        cmd.arg("EVALSHA").arg(self.script.get_hash()).arg(keys.len());
        for key in keys {
            cmd.arg(*key);
        }
        ScriptCall { script: self, cmd }
    }
}

/// One call of a [`StoredScript`]: `EVALSHA hash numkeys keys... args...`, built in place.
pub(crate) struct ScriptCall<'s> {
    pub(crate) script: &'s StoredScript,
    pub(crate) cmd: redis::Cmd,
}

impl ScriptCall<'_> {
    /// Appends an argument (`ARGV[n]`).
    pub(crate) fn arg<T: redis::ToRedisArgs>(mut self, arg: T) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Appends an argument in place (for calls built in a loop).
    pub(crate) fn push<T: redis::ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// The size of the largest argument after the script's hash, for the size limit.
    pub(crate) fn largest_arg(&self) -> usize {
        self.cmd
            .args_iter()
            .skip(2)
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes.len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// The same call with the script's source (`EVAL`), for a pipeline, where a `NOSCRIPT`
    /// could not be answered by loading the script and sending the call again.
    pub(crate) fn eval(&self) -> redis::Cmd {
        let mut eval = redis::cmd("EVAL");
        eval.arg(self.script.source.as_ref());
        for arg in self.cmd.args_iter().skip(2) {
            if let redis::Arg::Simple(bytes) = arg {
                eval.arg(bytes);
            }
        }
        eval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static ECHO: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new("return ARGV[1]"));

    fn words(cmd: &redis::Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => "<cursor>".into(),
            })
            .collect()
    }

    #[test]
    fn a_call_is_evalsha_with_its_keys_then_arguments_and_eval_keeps_them() {
        let call = ECHO.call(&["k1", "k2"]).arg("v").arg(42);
        let hash = ECHO.script.get_hash().to_string();
        assert_eq!(words(&call.cmd), ["EVALSHA", &hash, "2", "k1", "k2", "v", "42"]);
        assert_eq!(
            words(&call.eval()),
            ["EVAL", "return ARGV[1]", "2", "k1", "k2", "v", "42"]
        );
        assert_eq!(call.largest_arg(), 2);
    }
}
