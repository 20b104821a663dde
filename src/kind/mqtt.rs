//! The `mqtt` kind: any broker, at the URL the user gave.

use super::{Context, Plan, PlanError};
use crate::credentials::{CredentialSource, KeychainSource, StaticSource};
use crate::profiles::Profile;
use std::sync::Arc;

/// A broker link: the profile's settings; with a user name, the password from the keychain.
pub(super) fn plan(name: &str, profile: &Profile, ctx: &Context<'_>) -> Result<Plan, PlanError> {
    let config = profile.link_config(name, ctx.paths)?;
    let username = profile.username.clone().or_else(|| config.broker.username.clone());
    let credentials: Arc<dyn CredentialSource> = match (&ctx.secrets, username) {
        (Some(store), Some(user)) => Arc::new(KeychainSource {
            store: store.clone(),
            profile: name.to_string(),
            username: Some(user),
        }),
        // No user name: nothing to look up (a stored password without one would be refused).
        // No keychain: the caller has said so to the user; the broker decides what it allows.
        (_, username) => Arc::new(StaticSource(crate::credentials::Credentials { username, password: None })),
    };
    Ok(Plan {
        config,
        credentials,
        devices: Vec::new(),
        tokens: None,
    })
}
