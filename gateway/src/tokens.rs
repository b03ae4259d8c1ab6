//! `tributary tokens create | list | revoke`: API tokens for the HTTP API.

use anyhow::Context;
use tributary_catalog::CatalogStore;
use tributary_credentials::{ApiToken, check_name};

use crate::Failure;
use crate::cli::TokensCommand;
use crate::engine::Settings;

pub fn run(settings: &Settings, command: TokensCommand) -> Result<(), Failure> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create the data dir {}", settings.data_dir.display()))?;
    let store = CatalogStore::open(&settings.data_dir).map_err(anyhow::Error::from)?;
    match command {
        TokensCommand::Create { name } => {
            check_name(&name).map_err(|e| Failure::Usage(e.to_string()))?;
            let token = ApiToken::generate();
            if !store
                .add_token(&name, &token.hash)
                .map_err(anyhow::Error::from)?
            {
                return Err(Failure::Usage(format!(
                    "a token named \"{name}\" exists: revoke it first, or choose another name"
                )));
            }
            eprintln!(
                "# token \"{name}\": send it as `Authorization: Bearer <token>`; it is not shown again"
            );
            println!("{}", token.expose());
        }
        TokensCommand::List => {
            let tokens = store.tokens().map_err(anyhow::Error::from)?;
            let width = tokens
                .iter()
                .map(|t| t.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            println!("{:<width$}  created", "name");
            for token in tokens {
                println!("{:<width$}  {}", token.name, token.created_at);
            }
        }
        TokensCommand::Revoke { name } => {
            if !store.revoke_token(&name).map_err(anyhow::Error::from)? {
                return Err(Failure::Usage(format!(
                    "there is no token named \"{name}\""
                )));
            }
            eprintln!("# token \"{name}\" revoked");
        }
    }
    Ok(())
}
