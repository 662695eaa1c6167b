//! `patchbay project`: create and list projects.

use std::process::ExitCode;

use clap::Subcommand;
use patchbay_admin::{AdminConfig, Caller};

use super::{open_admin, open_read_only, CliResult, DataArg};

/// Manage projects.
#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create a project (the account is created if new).
    Create {
        #[command(flatten)]
        data: DataArg,
        /// The account that owns the project.
        #[arg(long)]
        account: String,
        /// The project id (used as `{agentId}` in the HTTP paths).
        project: String,
    },
    /// List projects.
    List {
        #[command(flatten)]
        data: DataArg,
    },
}

pub fn project(command: ProjectCommand) -> CliResult {
    match command {
        ProjectCommand::Create {
            data,
            account,
            project,
        } => {
            let admin = open_admin(&data, AdminConfig::default())?;
            admin
                .create_project(&Caller::Operator, &account, &project)
                .map_err(|e| e.to_string())?;
            println!("created project {project} in account {account}");
        }
        ProjectCommand::List { data } => {
            let admin = open_read_only(&data)?;
            for p in admin
                .list_projects(&Caller::Operator)
                .map_err(|e| e.to_string())?
            {
                println!("{}\t{}", p.account_id, p.project_id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
