//! The command line, as clap sees it.

use clap::{Args, Parser, Subcommand};
use std::time::Duration;
use tether::config::{LinkConfig, OutboxConfig, Overflow};
use tether::policy::{ReconnectPolicy, RecoveryPolicy, RecoveryStrategy};

#[derive(Parser, Debug)]
#[command(
    name = "tether",
    version,
    about = "Keep an MQTT link alive: two-tier recovery, persistent sessions, a durable outbox."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Connect and print link events and messages live (Ctrl-C stops gracefully).
    Watch(WatchArgs),
    /// Publish one message (queued in the outbox while offline).
    Pub(PubArgs),
    /// Manage profiles (the file shared with the desktop app).
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Store or delete a profile's password in the OS keychain (read from a prompt or stdin, never argv).
    #[command(subcommand)]
    Creds(CredsCmd),
    /// Print the diagnostics a running `tether watch --profile NAME` last wrote, as JSON.
    Diag { profile: String },
    /// A Navien profile's devices: list them, read a status, change a setting.
    #[command(subcommand)]
    Navien(NavienCmd),
    /// Run a local emulator of the Navien cloud (HTTPS REST, MQTT over WSS, simulated heaters).
    NavienCloud(Box<CloudArgs>),
    /// Run the embedded demo: a local broker, a simulated water heater, and a fault switch on stdin.
    Demo {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Use a saved profile instead of a URL.
    #[arg(long, short = 'p')]
    pub profile: Option<String>,
    /// The MQTT client id (default: the profile's, or a new `tether-xxxxxxxx`).
    #[arg(long)]
    pub client_id: Option<String>,
    /// User name (URL mode). The password is read with --password-stdin, or from the keychain for profiles.
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Start a clean session (the broker forgets subscriptions and queued messages).
    #[arg(long)]
    pub clean_session: bool,
    /// Keepalive in seconds.
    #[arg(long, value_name = "S")]
    pub keepalive: Option<f64>,
    /// Connect timeout in seconds.
    #[arg(long, value_name = "S")]
    pub connect_timeout: Option<f64>,
    /// Custom CA certificate (PEM) for mqtts:// and wss://.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<std::path::PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Tier 1, tier 2 and outbox numbers; each overrides the profile's or the default.
#[derive(Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Tier 1: attempts before `reconnection_failed` [default: 10].
    #[arg(long, value_name = "N")]
    pub max_reconnect_attempts: Option<u32>,
    /// Tier 1: first delay, seconds [default: 1].
    #[arg(long, value_name = "S")]
    pub initial_reconnect_delay: Option<f64>,
    /// Tier 1: delay cap, seconds [default: 120].
    #[arg(long, value_name = "S")]
    pub max_reconnect_delay: Option<f64>,
    /// Tier 1: delay multiplier [default: 2].
    #[arg(long, value_name = "X")]
    pub reconnect_multiplier: Option<f64>,
    /// Turn tier 1 off (failures go straight to recovery).
    #[arg(long)]
    pub no_auto_reconnect: bool,
    /// No jitter on delays.
    #[arg(long)]
    pub no_jitter: bool,
    /// Seconds a connection must hold before the backoff resets (and the outage counts as recovered).
    #[arg(long, value_name = "S")]
    pub stable_after: Option<f64>,
    /// Tier 2 strategy: simple_retry, recreate, refresh_and_recreate, backoff [default: backoff].
    #[arg(long, value_name = "NAME")]
    pub strategy: Option<RecoveryStrategy>,
    /// Tier 2: first delay between cycles, seconds [default: 60].
    #[arg(long, value_name = "S")]
    pub initial_recovery_delay: Option<f64>,
    /// Tier 2: delay cap, seconds [default: 300].
    #[arg(long, value_name = "S")]
    pub max_recovery_delay: Option<f64>,
    /// Tier 2: delay multiplier [default: 2].
    #[arg(long, value_name = "X")]
    pub recovery_multiplier: Option<f64>,
    /// Tier 2: cycles before `gave_up` [default: 10].
    #[arg(long, value_name = "N")]
    pub max_recovery_attempts: Option<u32>,
    /// Tier 2 (backoff): refresh credentials every N-th cycle [default: 3].
    #[arg(long, value_name = "N")]
    pub refresh_every: Option<u32>,
    /// Outbox bound [default: 1000].
    #[arg(long, value_name = "N")]
    pub outbox_max: Option<usize>,
    /// Outbox age limit, seconds [default: 300].
    #[arg(long, value_name = "S")]
    pub outbox_max_age: Option<f64>,
    /// Outbox overflow: drop_oldest or refuse_new [default: drop_oldest].
    #[arg(long, value_name = "POLICY", value_parser = parse_overflow)]
    pub outbox_overflow: Option<Overflow>,
}

fn parse_overflow(s: &str) -> Result<Overflow, String> {
    match s.replace('-', "_").as_str() {
        "drop_oldest" => Ok(Overflow::DropOldest),
        "refuse_new" => Ok(Overflow::RefuseNew),
        _ => Err(format!("{s:?}: use drop_oldest or refuse_new")),
    }
}

/// Seconds from the command line; out-of-range values are an error, never a panic.
pub fn secs(field: &str, v: f64) -> Result<Duration, tether::ConfigError> {
    Duration::try_from_secs_f64(v).map_err(|_| tether::ConfigError::new(field, format!("{v} is not a number of seconds ≥ 0")))
}

impl PolicyArgs {
    /// Apply the flags that were given on top of `c`.
    pub fn apply(&self, c: &mut LinkConfig) -> Result<(), tether::ConfigError> {
        self.apply_to(&mut c.reconnect, &mut c.recovery, &mut c.outbox)
    }

    /// Apply the flags that were given on top of a profile's policies.
    pub fn apply_to(&self, r: &mut ReconnectPolicy, t: &mut RecoveryPolicy, o: &mut OutboxConfig) -> Result<(), tether::ConfigError> {
        if let Some(v) = self.max_reconnect_attempts {
            r.max_reconnect_attempts = v;
        }
        if let Some(v) = self.initial_reconnect_delay {
            r.initial_reconnect_delay = secs("initial_reconnect_delay", v)?;
        }
        if let Some(v) = self.max_reconnect_delay {
            r.max_reconnect_delay = secs("max_reconnect_delay", v)?;
        }
        if let Some(v) = self.reconnect_multiplier {
            r.reconnect_backoff_multiplier = v;
        }
        if self.no_auto_reconnect {
            r.auto_reconnect = false;
        }
        if self.no_jitter {
            r.jitter = false;
        }
        if let Some(v) = self.stable_after {
            r.stable_after = secs("stable_after", v)?;
        }
        if let Some(v) = self.strategy {
            t.strategy = v;
        }
        if let Some(v) = self.initial_recovery_delay {
            t.initial_recovery_delay = secs("initial_recovery_delay", v)?;
        }
        if let Some(v) = self.max_recovery_delay {
            t.max_recovery_delay = secs("max_recovery_delay", v)?;
        }
        if let Some(v) = self.recovery_multiplier {
            t.recovery_backoff_multiplier = v;
        }
        if let Some(v) = self.max_recovery_attempts {
            t.max_recovery_attempts = v;
        }
        if let Some(v) = self.refresh_every {
            t.refresh_every = v;
        }
        if let Some(v) = self.outbox_max {
            o.max_messages = v;
        }
        if let Some(v) = self.outbox_max_age {
            o.max_age = secs("outbox_max_age", v)?;
        }
        if let Some(v) = self.outbox_overflow {
            o.overflow = v;
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Broker URL: mqtt://host[:port], mqtts://, ws://host:port/path, wss:// (or use --profile).
    pub url: Option<String>,
    #[command(flatten)]
    pub target: Target,
    /// Topic filter to subscribe to (repeatable).
    #[arg(long = "sub", short = 's', value_name = "TOPIC")]
    pub subs: Vec<String>,
    /// QoS of the subscriptions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// One JSON object per line (`ts`, `event`, ...).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PubArgs {
    /// `[URL] TOPIC PAYLOAD`: the URL is left out with --profile.
    #[arg(num_args = 2..=3, value_name = "ARGS", required = true)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub target: Target,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    #[arg(long)]
    pub retain: bool,
    /// Seconds to wait for delivery before leaving the message queued in the outbox.
    #[arg(long, default_value_t = 30.0, value_name = "S")]
    pub timeout: f64,
}

#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// Add a profile for a broker URL.
    Add(Box<AddArgs>),
    /// List profiles.
    List,
    /// Show one profile as stored (no secrets are ever stored there).
    Show { name: String },
    /// Remove a profile (and its keychain entry).
    Remove { name: String },
}

#[derive(Subcommand, Debug)]
pub enum CredsCmd {
    /// Store the password of PROFILE in the OS keychain (prompted; or piped on stdin).
    Set { profile: String },
    /// Delete the password of PROFILE from the OS keychain.
    Delete { profile: String },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The profile name (letters, digits, - _ .).
    pub name: String,
    /// Broker URL: mqtt://, mqtts://, ws://, wss:// (not with --navien).
    #[arg(required_unless_present = "navien", conflicts_with = "navien")]
    pub url: Option<String>,
    #[arg(long, short = 'u', conflicts_with = "navien")]
    pub username: Option<String>,
    /// A Navien Smart Control account (its e-mail): the password is asked for (or read from stdin),
    /// the sign-in checked and the account's devices stored in the profile.
    #[arg(long, value_name = "EMAIL")]
    pub navien: Option<String>,
    #[command(flatten)]
    pub cloud: CloudEndpoints,
    /// Only these devices of the account (MAC, repeatable) [default: all].
    #[arg(long = "device", value_name = "MAC", requires = "navien")]
    pub devices: Vec<String>,
    /// Topic filter to keep subscribed (repeatable).
    #[arg(long = "sub", short = 's', value_name = "TOPIC")]
    pub subs: Vec<String>,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    #[arg(long)]
    pub client_id: Option<String>,
    #[arg(long)]
    pub clean_session: bool,
    #[arg(long, value_name = "S")]
    pub keepalive: Option<f64>,
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Where a Navien profile's cloud is: the real one by default, or an emulator's.
#[derive(Args, Debug, Clone, Default)]
pub struct CloudEndpoints {
    /// The REST API's base URL [default: https://nlus.naviensmartcontrol.com/api/v2.1].
    #[arg(long, value_name = "URL", requires = "navien")]
    pub rest_url: Option<String>,
    /// The AWS IoT endpoint [default: a1t30mldyslmuq-ats.iot.us-east-1.amazonaws.com].
    #[arg(long, value_name = "HOST", requires = "navien")]
    pub iot_host: Option<String>,
    /// The AWS IoT port [default: 443].
    #[arg(long, value_name = "PORT", requires = "navien")]
    pub iot_port: Option<u16>,
}

#[derive(Subcommand, Debug)]
pub enum NavienCmd {
    /// List the devices of the profile's account (from the cloud).
    Devices {
        name: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print one decoded status of a device as JSON, then exit.
    Status(DeviceArgs),
    /// Change a device setting; exits 0 only when the device's answering status confirms it.
    Set(Box<SetArgs>),
    /// Forget the profile's stored tokens (the next run signs in with the password).
    SignOut { name: String },
}

#[derive(Args, Debug)]
pub struct DeviceArgs {
    /// The Navien profile.
    pub name: String,
    /// The device (MAC) [default: the profile's first].
    #[arg(long, value_name = "MAC")]
    pub device: Option<String>,
    /// Seconds to wait for the device.
    #[arg(long, default_value_t = 30.0, value_name = "S")]
    pub timeout: f64,
}

#[derive(Args, Debug)]
#[group(id = "change", required = true, multiple = false, args = ["setpoint_f", "mode", "power", "anti_legionella"])]
pub struct SetArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// The hot-water setpoint, °F.
    #[arg(long, value_name = "F")]
    pub setpoint_f: Option<f64>,
    /// heat_pump, electric, energy_saver, high_demand, or vacation (with --days).
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    /// Vacation days (1-99), with --mode vacation.
    #[arg(long, value_name = "N")]
    pub days: Option<u8>,
    /// on or off.
    #[arg(long, value_name = "on|off")]
    pub power: Option<String>,
    /// Anti-legionella: a period in days (1-30), or off.
    #[arg(long, value_name = "DAYS|off")]
    pub anti_legionella: Option<String>,
}

#[derive(Args, Debug)]
pub struct CloudArgs {
    /// Accounts and devices, JSON: [{"email", "password", "devices": [{"mac", "name"}]}]
    /// [default: one demo account].
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<std::path::PathBuf>,
    /// Where to write the CA certificate clients must trust [default: a file in the temp dir].
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// The HTTPS REST port [default: any free one].
    #[arg(long, default_value_t = 0)]
    pub rest_port: u16,
    /// The MQTT-over-WSS port [default: any free one].
    #[arg(long, default_value_t = 0)]
    pub mqtt_port: u16,
    /// Lifetime of the access tokens (JWT), seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "S")]
    pub jwt_lifetime: f64,
    /// Lifetime of the AWS credentials, seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "S")]
    pub aws_lifetime: f64,
    /// Close each MQTT connection this long after it opened (AWS IoT: about 24 h), seconds.
    #[arg(long, value_name = "S")]
    pub connection_limit: Option<f64>,
}
