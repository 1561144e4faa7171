//! The OpenAPI 3.1 document of the client API, generated from the handlers' annotations and
//! the types of `parley-client-api`. Served at `/api/openapi.json`; `parley openapi` prints it.

use axum::{Json, Router, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley client API", description = "The protocol between Parley clients and their homeserver. Errors are `ErrorBody`."),
    paths(
        super::server_info::server_info,
        super::account::register,
        super::account::verify_email,
        super::account::resend_verification,
        super::account::forgot_password,
        super::account::reset_password,
        super::account::change_password,
        super::account::my_profile,
        super::account::update_profile,
        super::account::change_email,
        super::account::public_profile,
        super::auth::login,
        super::auth::refresh,
        super::auth::logout,
        super::auth::sessions,
        super::auth::end_session,
        super::auth::end_other_sessions,
        super::rooms::create_room,
        super::rooms::list_rooms,
        super::rooms::room,
        super::rooms::update_room,
        super::rooms::history,
        super::rooms::send,
        super::rooms::add_member,
        super::rooms::remove_member,
        super::rooms::set_role,
        super::rooms::mark_read,
        super::keys::devices,
        super::keys::rename_device,
        super::keys::delete_device,
        super::keys::upload,
        super::keys::query,
        super::keys::claim,
        super::keys::counts,
        super::keys::device_signing_upload,
        super::keys::signatures_upload,
        super::keys::send_to_device,
        super::keys::pending,
        super::keys::ack,
    ),
    components(schemas(parley_client_api::ErrorBody, parley_client_api::ErrorCode)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = crate::VERSION.to_owned();
    doc.info.license = None;
    doc
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { Json(document()) }))
}
