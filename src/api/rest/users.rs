//! `/api/v1/users`: usual orders.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{BearerToken, RestError, RestTags, authenticate, models};
use crate::{
    api::state::AppState, domain::check_slack_id, storage::preferences,
    workflows::order_form::TOP_USUALS,
};

pub struct UsersApi;

#[OpenApi(prefix_path = "/api/v1", tag = "RestTags::Users")]
impl UsersApi {
    /// The user's top 3 usual orders by count (`[]` when none): the user themself, or an admin.
    #[oai(path = "/users/:user_id/preferences", method = "get")]
    async fn preferences(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        user_id: Path<String>,
    ) -> Result<Json<Vec<models::Preference>>, RestError> {
        let caller = authenticate(&state, &auth).await?;
        check_slack_id(&user_id.0).map_err(|e| RestError::invalid(&format!("user_id {e}")))?;
        if caller.user_id != user_id.0 && !caller.admin {
            return Err(RestError::unauthorized(
                "you can only read your own preferences",
            ));
        }
        let all = preferences::all_for_user(&state.pool, &user_id.0)
            .await
            .map_err(|e| RestError::database("load preferences", &e))?;
        Ok(Json(
            all.into_iter()
                .take(TOP_USUALS)
                .map(|p| models::Preference {
                    drink_type: p.drink_type,
                    size: p.size,
                    customizations: p.customizations,
                    order_count: p.order_count,
                })
                .collect(),
        ))
    }
}
