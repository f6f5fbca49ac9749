//! One module per API resource, each with its request and response types next to the handlers.

pub mod command;
pub mod conversation;
pub mod export;
pub mod health;
pub mod history;
pub mod me;
pub mod session;
pub mod settings;
pub mod suggestions;
pub mod timers;
pub mod voice;

use super::error::ApiError;
use crate::store::UserId;

/// `/api/history/{user_id}` and `/api/settings/{user_id}` keep the predecessor's shape, but a
/// path id never grants access: `me` or the caller's own id means the caller, anything else is
/// 404 (not 403, which would confirm that the id exists).
pub(crate) fn ensure_self(user: &UserId, path_user_id: &str) -> Result<(), ApiError> {
    if path_user_id == "me" || path_user_id == user.as_str() {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}
