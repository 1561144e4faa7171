//! Accounts: sign-up, email verification, password reset and change, profile.
//!
//! Answers that could reveal whether an account or an address exists (sign-up with a known
//! email, resend, forgot password) are the same whatever the answer: [`Accepted`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/account/register`.
pub const REGISTER: &str = "/account/register";
/// `POST /api/v1/account/verify-email`.
pub const VERIFY_EMAIL: &str = "/account/verify-email";
/// `POST /api/v1/account/verify-email/resend`.
pub const RESEND_VERIFICATION: &str = "/account/verify-email/resend";
/// `POST /api/v1/account/password/forgot`.
pub const FORGOT_PASSWORD: &str = "/account/password/forgot";
/// `POST /api/v1/account/password/reset`.
pub const RESET_PASSWORD: &str = "/account/password/reset";
/// `POST /api/v1/account/password`.
pub const CHANGE_PASSWORD: &str = "/account/password";
/// `GET` and `PATCH /api/v1/account/profile`.
pub const MY_PROFILE: &str = "/account/profile";
/// `POST /api/v1/account/email`.
pub const CHANGE_EMAIL: &str = "/account/email";
/// `GET /api/v1/profile/{user_id}`.
pub const PROFILE: &str = "/profile/{user_id}";

/// Sign-up. The account cannot sign in until the link mailed to `email` is opened.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Becomes `@username:server`: `a-z 0-9 . _ = -`, 1 to 64 characters (upper case is
    /// folded to lower case).
    pub username: String,
    /// Where the verification link goes.
    pub email: String,
    /// The person's full name, 1 to 128 characters.
    pub full_name: String,
    /// At least 8 characters, at most 256; not a common password.
    pub password: String,
}

/// The answer to a request whose outcome must not reveal whether an account exists: mail has
/// been sent if there was anyone to send it to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// Always `true`.
    pub accepted: bool,
}

/// Opens an emailed link: verifies an address (at sign-up or after an email change).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the link.
    pub token: String,
}

/// What was verified.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyEmailResponse {
    /// The account whose address is now verified.
    pub user_id: String,
    /// The verified address.
    pub email: String,
}

/// Asks for a new verification link, or a password reset link.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// The account's address.
    pub email: String,
}

/// Sets a new password with a reset link's token. Ends every session of the account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the link.
    pub token: String,
    /// The new password.
    pub new_password: String,
}

/// Changes the password of the signed-in account. Ends every other session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

/// Starts a change of address: the new address gets a verification link, the old one a notice.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The new address.
    pub new_email: String,
    /// The current password (re-authentication).
    pub password: String,
}

/// The signed-in user's own profile.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MyProfile {
    /// `@username:server`.
    pub user_id: String,
    /// The verified address.
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// The name shown in conversations; when absent, clients show the full name.
    pub display_name: Option<String>,
    /// When the account was created (RFC 3339).
    pub created_at: String,
}

/// Changes to the signed-in user's profile; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// New full name, 1 to 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// New display name, at most 64 characters; an empty string removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// What anyone signed in on this server may see of a user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublicProfile {
    /// `@username:server`.
    pub user_id: String,
    /// Full name.
    pub full_name: String,
    /// Display name, if set.
    pub display_name: Option<String>,
}
