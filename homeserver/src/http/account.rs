//! Account endpoints: sign-up, email verification, passwords, profile.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::{get, post},
};
use http::StatusCode;
use parley_client_api::{
    ErrorBody,
    account::{
        self as api, Accepted, ChangeEmailRequest, ChangePasswordRequest, EmailRequest, MyProfile,
        PublicProfile, RegisterRequest, ResetPasswordRequest, UpdateProfileRequest,
        VerifyEmailRequest, VerifyEmailResponse,
    },
};

use super::extract::ApiJson;
use crate::{
    accounts::{AuthUser, NewAccount},
    error::AppError,
    state::AppState,
};

/// Routes that send mail or take passwords without a session: rate limited per IP.
pub(super) fn limited_router() -> Router<AppState> {
    Router::new()
        .route(api::REGISTER, post(register))
        .route(api::RESEND_VERIFICATION, post(resend_verification))
        .route(api::FORGOT_PASSWORD, post(forgot_password))
        .route(api::RESET_PASSWORD, post(reset_password))
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(api::VERIFY_EMAIL, post(verify_email))
        .route(api::CHANGE_PASSWORD, post(change_password))
        .route(api::MY_PROFILE, get(my_profile).patch(update_profile))
        .route(api::CHANGE_EMAIL, post(change_email))
        .route(api::PROFILE, get(public_profile))
}

const ACCEPTED: (StatusCode, Json<Accepted>) =
    (StatusCode::ACCEPTED, Json(Accepted { accepted: true }));

/// Sign up. The answer is the same whether or not the username or the address is in use: in
/// that case the address gets a mail saying so instead of a verification link.
#[utoipa::path(post, path = "/api/v1/account/register", tag = "account", request_body = RegisterRequest,
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody)))]
pub(super) async fn register(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    state
        .accounts
        .register(NewAccount {
            username: &request.username,
            email: &request.email,
            full_name: &request.full_name,
            password: &request.password,
        })
        .await?;
    Ok(ACCEPTED)
}

/// Open a verification link (sign-up or change of address).
#[utoipa::path(post, path = "/api/v1/account/verify-email", tag = "account", request_body = VerifyEmailRequest,
    responses((status = 200, body = VerifyEmailResponse), (status = 401, body = ErrorBody, description = "invalid, used or expired link")))]
pub(super) async fn verify_email(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<VerifyEmailRequest>,
) -> Result<Json<VerifyEmailResponse>, AppError> {
    let (user_id, email) = state.accounts.verify_email(&request.token).await?;
    Ok(Json(VerifyEmailResponse { user_id, email }))
}

/// Send the verification link again (at most once a minute per account).
#[utoipa::path(post, path = "/api/v1/account/verify-email/resend", tag = "account", request_body = EmailRequest,
    responses((status = 202, body = Accepted)))]
pub(super) async fn resend_verification(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EmailRequest>,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    state.accounts.resend_verification(&request.email).await?;
    Ok(ACCEPTED)
}

/// Mail a password reset link, if the address belongs to an account.
#[utoipa::path(post, path = "/api/v1/account/password/forgot", tag = "account", request_body = EmailRequest,
    responses((status = 202, body = Accepted)))]
pub(super) async fn forgot_password(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EmailRequest>,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    state.accounts.forgot_password(&request.email).await?;
    Ok(ACCEPTED)
}

/// Set a new password with a reset link; every session of the account ends.
#[utoipa::path(post, path = "/api/v1/account/password/reset", tag = "account", request_body = ResetPasswordRequest,
    responses((status = 200, body = Accepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn reset_password(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ResetPasswordRequest>,
) -> Result<Json<Accepted>, AppError> {
    state
        .accounts
        .reset_password(&request.token, &request.new_password)
        .await?;
    Ok(Json(Accepted { accepted: true }))
}

/// Change the password; every other session ends.
#[utoipa::path(post, path = "/api/v1/account/password", tag = "account", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Accepted), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<Json<Accepted>, AppError> {
    state
        .accounts
        .change_password(&user, &request.current_password, &request.new_password)
        .await?;
    Ok(Json(Accepted { accepted: true }))
}

/// The signed-in user's profile.
#[utoipa::path(get, path = "/api/v1/account/profile", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = MyProfile), (status = 401, body = ErrorBody)))]
pub(super) async fn my_profile(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MyProfile>, AppError> {
    Ok(Json(state.accounts.my_profile(&user).await?))
}

/// Change the full name or display name.
#[utoipa::path(patch, path = "/api/v1/account/profile", tag = "account", request_body = UpdateProfileRequest,
    security(("bearer" = [])),
    responses((status = 200, body = MyProfile), (status = 400, body = ErrorBody)))]
pub(super) async fn update_profile(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<UpdateProfileRequest>,
) -> Result<Json<MyProfile>, AppError> {
    Ok(Json(state.accounts.update_profile(&user, &request).await?))
}

/// Change the email address: the new address gets a link, the old one a notice once done.
#[utoipa::path(post, path = "/api/v1/account/email", tag = "account", request_body = ChangeEmailRequest,
    security(("bearer" = [])),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn change_email(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<ChangeEmailRequest>,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    state
        .accounts
        .change_email(&user, &request.new_email, &request.password)
        .await?;
    Ok(ACCEPTED)
}

/// Another user's public profile.
#[utoipa::path(get, path = "/api/v1/profile/{user_id}", tag = "account", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "`@username:server`")),
    responses((status = 200, body = PublicProfile), (status = 404, body = ErrorBody)))]
pub(super) async fn public_profile(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(user_id): Path<String>,
) -> Result<Json<PublicProfile>, AppError> {
    Ok(Json(state.accounts.public_profile(&user_id).await?))
}
