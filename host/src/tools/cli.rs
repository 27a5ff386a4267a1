//! The command line: `serve`, `check`, `logs`, `mock-upstream`, `plugin`
//! and `bench`.
//! It parses arguments and starts
//! things; the work is done by the modules it calls, never here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::gateway::Gateway;
use crate::runtime::{PluginCaps, Runtime, RuntimeOptions};
use crate::tools::mock::MockOptions;

/// Switchyard: a multi-model LLM gateway with WebAssembly routing policies and
/// provider adapters.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (without --config: the embedded default).
    Serve {
        /// The config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen address, overriding the config (port 0 picks a free port).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Validate a config file and the plugins it uses; exits non-zero with a
    /// message naming the bad key.
    Check {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Recent requests from the request log, or (`logs spend`) totals.
    Logs(crate::tools::logs::LogsArgs),
    /// Run a simulated provider speaking every supported wire format.
    MockUpstream(MockOptions),
    /// Work with plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Benchmark models and routes on a dataset of your tasks: quality,
    /// cost and latency per task type, a report, and the routing table
    /// that serves each task type by the cheapest model good enough.
    Bench(Box<crate::tools::bench::BenchArgs>),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// List the plugins built into this binary.
    List,
    /// Write a built-in plugin's component to a file (a starting point for
    /// an override in the plugin directory).
    Dump {
        /// The plugin's name.
        name: String,
        /// Where to write the `.wasm` file.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Create a buildable plugin project: a policy or an evaluator (Rust,
    /// Python or JavaScript), or an adapter (Rust).
    New(crate::tools::plugin::NewArgs),
    /// Run a policy on recorded requests, without a gateway.
    Test(crate::tools::plugin::TestArgs),
    /// Run an evaluator on recorded answers, without a gateway: each case's
    /// scores, then a summary and the time per call.
    Eval(crate::tools::plugin::EvalArgs),
}

async fn plugin_command(cmd: PluginCommand) -> anyhow::Result<()> {
    use crate::generation::embedded::EMBEDDED;
    match cmd {
        PluginCommand::List => {
            for (name, bytes) in EMBEDDED {
                println!("{name}\t{} bytes", bytes.len());
            }
            Ok(())
        }
        PluginCommand::Dump { name, out } => {
            let Some((_, bytes)) = EMBEDDED.iter().find(|(n, _)| *n == name) else {
                anyhow::bail!("no built-in plugin named `{name}` (see `switchyard plugin list`)");
            };
            std::fs::write(&out, bytes)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
            Ok(())
        }
        PluginCommand::New(args) => crate::tools::plugin::new_plugin(args),
        PluginCommand::Test(args) => crate::tools::plugin::test_plugin(args).await,
        PluginCommand::Eval(args) => crate::tools::plugin::eval_plugin(args).await,
    }
}

/// Where compiled components are cached unless the config says otherwise.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SWITCHYARD_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    dirs::cache_dir().map(|d| d.join("switchyard").join("components"))
}

/// Runtime options from a config.
pub fn runtime_options(cfg: &Config) -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: cfg.plugins.cache_dir.clone().or_else(default_cache_dir),
        caps: PluginCaps {
            policy_deadline: Duration::from_millis(cfg.plugins.policy_timeout_ms),
            adapter_deadline: Duration::from_millis(cfg.plugins.adapter_timeout_ms),
            evaluator_deadline: Duration::from_millis(cfg.plugins.evaluator_timeout_ms),
            memory_bytes: cfg.plugins.memory_limit_mb << 20,
        },
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // rustls needs one process-wide crypto provider before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `serve` reports what it loads; one-shot commands only warnings.
    let default_level = match cli.command {
        Command::Serve { .. } | Command::MockUpstream(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchyard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve { config, listen } => serve(config, listen).await,
            Command::Check { config } => check(config).await,
            Command::Logs(args) => crate::tools::logs::run(args).await,
            Command::MockUpstream(opts) => crate::tools::mock::run(opts).await,
            Command::Plugin(cmd) => plugin_command(cmd).await,
            Command::Bench(args) => crate::tools::bench::run(*args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(config: Option<PathBuf>, listen: Option<String>) -> anyhow::Result<()> {
    let mut cfg = match &config {
        Some(path) => Config::load(path)?,
        None => {
            let addr = listen
                .clone()
                .unwrap_or_else(|| crate::config::DEFAULT_LISTEN.to_owned());
            crate::tools::defaults::embedded_default(&addr).await?
        }
    };
    if let Some(l) = listen {
        cfg.listen = l;
    }
    let public = loopback_unless_keys(&mut cfg);
    if !cfg.keys.is_empty() {
        tracing::info!(
            keys = cfg.keys.len(),
            backend = ?cfg.limits.backend,
            "client keys required on /v1"
        );
        let s = &cfg.server;
        if s.admin_key_env.is_none() && s.admin_key_file.is_none() && s.admin_key_sha256.is_none() {
            tracing::warn!(
                "no admin key is configured ([server] admin_key_env, admin_key_file or admin_key_sha256): /admin/* is disabled"
            );
        }
    }
    let listener = crate::ingress::bind(&cfg.listen).await?;
    let addr = listener.local_addr()?;
    let runtime = Arc::new(Runtime::new(runtime_options(&cfg))?);
    let log_config = cfg.log.clone();
    let gw = Arc::new(Gateway::new(runtime, cfg)?);
    start_log(&gw, &log_config).await;
    gw.public
        .store(public, std::sync::atomic::Ordering::Relaxed);
    let reloader = crate::gateway::reload::start(gw.clone(), config.clone())?;
    let _ = gw.reloader.set(reloader.clone());
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading");
                    reloader.poke();
                }
            });
        }
    }
    tracing::info!(%addr, "switchyard ready");
    println!("listening on {addr}");
    crate::ingress::serve(gw, listener, shutdown_signal()).await
}

/// With no client keys the gateway serves anyone who reaches it, so unless
/// the config opts out it listens on loopback only: a non-loopback `listen`
/// becomes 127.0.0.1 (or ::1) with the same port, and the log says so.
/// Returns whether the gateway will listen on a non-loopback address.
fn loopback_unless_keys(cfg: &mut Config) -> bool {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    // An unparsable address is reported by `bind`.
    let Ok(addr) = cfg.listen.parse::<SocketAddr>() else {
        return false;
    };
    if addr.ip().is_loopback() {
        return false;
    }
    if !cfg.keys.is_empty() {
        return true;
    }
    if cfg.server.allow_public_without_keys {
        tracing::warn!(%addr, "listening on a non-loopback address with no client keys (allow_public_without_keys = true): anyone who reaches it can use it");
        return true;
    }
    let lo: IpAddr = if addr.is_ipv4() {
        Ipv4Addr::LOCALHOST.into()
    } else {
        Ipv6Addr::LOCALHOST.into()
    };
    let lo = SocketAddr::new(lo, addr.port());
    tracing::warn!(
        "no client keys are configured ([keys]): listening on {lo} (loopback only) instead of {addr}; \
         configure [keys] to serve other machines, or set [server] allow_public_without_keys = true"
    );
    cfg.listen = lo.to_string();
    false
}

/// Open the request log: a store that cannot be opened (a read-only or
/// corrupt SQLite file, a schema newer than this build) leaves the gateway
/// serving without it, said loudly at start and by the admin API's
/// request-log endpoints; `switchyard check` refuses such a config.
async fn start_log(gw: &Gateway, cfg: &crate::config::log::LogConfig) {
    match crate::ledger::log::RequestLog::start(cfg).await {
        Ok(Some(log)) => {
            tracing::info!(store = %log.store().describe(), bodies = cfg.bodies, "request log");
            gw.ledger
                .set_log(log, cfg.bodies.then_some(cfg.body_max_bytes));
        }
        Ok(None) => tracing::info!("request log off ([log] backend = \"off\")"),
        Err(e) => {
            tracing::error!(
                "THE REQUEST LOG IS OFF: {e:#}. Serving without it: requests are not recorded \
                 until this is fixed and the gateway restarted (`switchyard check` shows the error)."
            );
            gw.ledger.set_log_off(format!("{e:#}"));
        }
    }
}

async fn check(path: PathBuf) -> anyhow::Result<()> {
    let cfg = Config::load(&path)?;
    crate::ledger::log::RequestLog::check(&cfg.log)
        .await
        .map_err(|e| anyhow::anyhow!("log: {e:#}"))?;
    let runtime = Runtime::new(runtime_options(&cfg))?;
    let stats = crate::monitor::Stats::default();
    let g = crate::generation::build_generation(&runtime, &stats, cfg, 1)?;
    println!(
        "{}: OK ({} providers, {} models, {} routes, {} plugins)",
        path.display(),
        g.config.providers.len(),
        g.models.len(),
        g.routes.len(),
        g.plugins.len()
    );
    Ok(())
}
