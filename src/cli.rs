//! The command line (clap). What the arguments mean is decided in [`crate::config`].

use clap::{Parser, Subcommand};

use crate::handler::Language;

/// `ferric [OPTIONS] [HANDLER]`, `ferric [OPTIONS] -- CMD [ARGS...]`, `ferric invoke ...`.
#[derive(Debug, Parser)]
#[command(
    name = "ferric",
    version,
    about = "AWS Lambda runtime interface client for container images: runs Python, Node or any handler behind one Rust binary",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile the Python shim into FERRIC_CACHE_DIR and exit. Run it at image build time (as
    /// root, with the function's Python) so cold starts load the shim instead of compiling it.
    Prepare,
    /// Run one invocation locally and print the result on stdout (exit 1 on a function error).
    Invoke {
        /// The event: a file path, or `-` for stdin. Default: `{}`.
        #[arg(long, short)]
        event: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Check a worker against docs/PROTOCOL.md: a PASS, FAIL or SKIP line per rule (exit 1 if
    /// any rule fails).
    ///
    /// `--runtime` checks ferric's own shim; `-- CMD [ARGS...]` a raw worker, which must follow
    /// the conformance handler contract (docs/PROTOCOL.md, "Checking a worker").
    Conform {
        /// Check ferric's shim for this language, with a conformance handler of the kit's.
        #[arg(
            long,
            value_enum,
            required_unless_present = "raw",
            conflicts_with = "raw"
        )]
        runtime: Option<Language>,
        /// Seconds to wait for the handshake and for each answer.
        #[arg(long, value_name = "SECONDS", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        timeout: u64,
        /// The raw worker to check.
        #[arg(last = true, value_name = "CMD", required_unless_present = "runtime")]
        raw: Vec<String>,
    },
}

#[derive(Debug, clap::Args, Default, Clone)]
pub struct RunArgs {
    /// Force the language instead of detecting it from the task root.
    #[arg(long, value_enum)]
    pub runtime: Option<Language>,
    /// The handler, as for awslambdaric (`module.function`). Defaults to `_HANDLER`.
    pub handler: Option<String>,
    /// Local mode: replace the worker when a file in the task root changes (between
    /// invocations).
    #[arg(long)]
    pub watch: bool,
    /// Local mode: start the worker under its language's debugger, listening on HOST:PORT
    /// (default 127.0.0.1 and 5678 for Python's debugpy, 9229 for Node's inspector), and wait
    /// for the debugger before loading the handler.
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub debug: Option<String>,
    /// Raw mode: run this program as the worker (it must speak docs/PROTOCOL.md).
    #[arg(last = true)]
    pub raw: Vec<String>,
}

impl Cli {
    /// The run arguments of whichever mode was asked for (`prepare` has none).
    pub fn run_args(&self) -> RunArgs {
        match &self.command {
            Some(Command::Invoke { run, .. }) => run.clone(),
            Some(Command::Conform { runtime, raw, .. }) => RunArgs {
                runtime: *runtime,
                raw: raw.clone(),
                ..RunArgs::default()
            },
            Some(Command::Prepare) | None => self.run.clone(),
        }
    }

    /// Whether the mode runs the user's handler (so one must be named).
    pub fn needs_handler(&self) -> bool {
        !matches!(
            self.command,
            Some(Command::Prepare | Command::Conform { .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_subcommand_parses() {
        let cli = Cli::try_parse_from(["ferric", "invoke", "--event", "-", "app.handler"]).unwrap();
        match &cli.command {
            Some(Command::Invoke { event, run }) => {
                assert_eq!(event.as_deref(), Some("-"));
                assert_eq!(run.handler.as_deref(), Some("app.handler"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cli.run_args().handler.as_deref(), Some("app.handler"));
    }

    #[test]
    fn conform_takes_a_runtime_or_a_command_but_not_both() {
        let cli = Cli::try_parse_from(["ferric", "conform", "--", "bash", "w.sh"]).unwrap();
        assert_eq!(cli.run_args().raw, ["bash", "w.sh"]);
        assert!(!cli.needs_handler());
        let cli = Cli::try_parse_from(["ferric", "conform", "--runtime", "node"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Conform {
                runtime: Some(Language::Node),
                timeout: 10,
                ..
            })
        ));
        assert_eq!(cli.run_args().runtime, Some(Language::Node));
        for bad in [
            &["ferric", "conform"][..],
            &["ferric", "conform", "--runtime", "python", "--", "w"],
            &["ferric", "conform", "--timeout", "0", "--runtime", "python"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn raw_mode_takes_everything_after_the_separator() {
        let cli = Cli::try_parse_from(["ferric", "--", "./worker", "--flag"]).unwrap();
        assert_eq!(cli.run.raw, ["./worker", "--flag"]);
        assert_eq!(cli.run.handler, None);
    }
}
