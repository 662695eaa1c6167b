//! `patchbay key`: create, list and revoke API keys.

use std::process::ExitCode;

use clap::Subcommand;
use patchbay_admin::{AdminConfig, Caller};

use super::{open_admin, open_read_only, CliResult, DataArg};

/// Manage API keys.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints the key alone on stdout (it is shown only this once).
    Create {
        #[command(flatten)]
        data: DataArg,
        /// The account the key belongs to.
        #[arg(long)]
        account: String,
        /// A project the key grants (repeat for several); none: every project of the account.
        #[arg(long = "project", value_name = "PROJECT")]
        projects: Vec<String>,
        /// A note for people (who or what uses the key).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        #[command(flatten)]
        data: DataArg,
        /// The key id (`key_...`, as `key list` shows it).
        id: String,
    },
}

pub fn key(command: KeyCommand) -> CliResult {
    match command {
        KeyCommand::Create {
            data,
            account,
            projects,
            label,
        } => {
            let admin = open_admin(&data, AdminConfig::default())?;
            let (secret, _) = admin
                .create_key(&Caller::Operator, &account, &projects, &label)
                .map_err(|e| e.to_string())?;
            println!("{secret}");
        }
        KeyCommand::List { data } => {
            let admin = open_read_only(&data)?;
            for key in admin
                .list_keys(&Caller::Operator)
                .map_err(|e| e.to_string())?
            {
                println!(
                    "{}",
                    serde_json::to_string(&key).map_err(|e| e.to_string())?
                );
            }
        }
        KeyCommand::Revoke { data, id } => {
            let admin = open_admin(&data, AdminConfig::default())?;
            admin
                .revoke_key(&Caller::Operator, &id)
                .map_err(|e| e.to_string())?;
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
