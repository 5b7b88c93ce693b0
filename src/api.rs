//! Every route, declared once: on its handler, `#[utoipa::path]` names the method, the path,
//! who may call it (the `x-access` extension: `public`, `signed_in` or an action of the
//! permission table) and its OpenAPI description. The router, the OpenAPI document and the
//! access check are all derived from that one declaration, and a route without an access rule
//! cannot be built.

use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{web, HttpResponse, Resource};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{HttpMethod, RefOr};

use crate::auth::access::Access;
use crate::auth::permissions::Action;
use crate::error::AppError;

/// One route: its handler's declaration, and how to add the handler to a resource.
#[derive(Clone)]
pub struct Route {
    pub method: Method,
    /// The capability the handler belongs to (`cd_register`), for the operation's id.
    pub area: &'static str,
    /// The full path as the document writes it, e.g. `/api/v1/sites/{site_id}/cd/pages`.
    pub path: String,
    pub access: Access,
    pub operation: Operation,
    /// The schemas the operation refers to, for the document's components.
    pub schemas: Vec<(String, RefOr<Schema>)>,
    register: fn(Resource) -> Resource,
}

/// A route from a handler annotated with `#[utoipa::path(...)]`.
#[macro_export]
macro_rules! route {
    ($handler:ident) => {
        paste::paste! {
            $crate::api::Route::declared::<[<__path_ $handler>]>(module_path!(), |resource| {
                resource.route(
                    actix_web::web::route()
                        .method($crate::api::method_of::<[<__path_ $handler>]>())
                        .to($handler),
                )
            })
        }
    };
}

/// The actix method of a declared route (its one method).
pub fn method_of<P: utoipa::Path>() -> Method {
    let methods = P::methods();
    match methods.as_slice() {
        [m] => actix_method(m),
        _ => panic!("{} must declare exactly one method", P::path()),
    }
}

fn actix_method(m: &HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Trace => Method::TRACE,
    }
}

impl Route {
    /// Builds a route from its declaration. A declaration without a valid `x-access` rule is a
    /// programming error, found when the application is built (and by the tests).
    pub fn declared<P: utoipa::Path + utoipa::__dev::SchemaReferences>(
        module: &'static str,
        register: fn(Resource) -> Resource,
    ) -> Route {
        // `prison_pharmacy::cd_register::routes` -> `cd_register`; the crate root -> `operations`.
        let area = module
            .split("::")
            .nth(1)
            .filter(|a| *a != "openapi")
            .unwrap_or("operations");
        let path = P::path();
        let mut schemas = Vec::new();
        P::schemas(&mut schemas);
        let operation = P::operation();
        let rule = operation
            .extensions
            .as_ref()
            .and_then(|e| e.get("x-access"))
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{path} declares no x-access rule"));
        let access = match rule {
            "public" => Access::Public,
            "signed_in" => Access::SignedIn,
            action => Access::Action(
                Action::parse(action).unwrap_or_else(|| panic!("{path}: unknown action {action}")),
            ),
        };
        Route {
            method: method_of::<P>(),
            area,
            path,
            access,
            operation,
            schemas,
            register,
        }
    }
}

/// Every route of the service, in the order the router tries them within each scope.
pub fn all() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let mut all = crate::routes();
        use crate::{
            administration, auditing, auth, cd_register, custody, emergency_kits, formulary,
            openapi, outbreaks, patients, prescribing, procurement, sites, stock, users,
        };
        for module in [
            auth::routes::routes(),
            sites::routes::routes(),
            users::routes::routes(),
            auditing::routes::routes(),
            formulary::routes::routes(),
            stock::routes::routes(),
            cd_register::routes::routes(),
            procurement::routes::routes(),
            patients::routes::routes(),
            prescribing::routes::routes(),
            administration::routes::routes(),
            custody::routes::routes(),
            emergency_kits::routes::routes(),
            outbreaks::routes::routes(),
            openapi::routes(),
        ] {
            all.extend(module);
        }
        all
    })
}

/// The access rule of a method on a route pattern, if the route exists.
pub fn access(method: &str, pattern: &str) -> Option<Access> {
    all()
        .iter()
        .find(|r| r.method.as_str() == method && r.path == pattern)
        .map(|r| r.access)
}

/// Whether any route has this pattern.
pub fn has_pattern(pattern: &str) -> bool {
    all().iter().any(|r| r.path == pattern)
}

/// The path every API route starts with; its scope carries the access check.
pub const API_PREFIX: &str = "/api/v1";

/// The API's routes, into the `/api/v1` scope.
pub fn register_api(cfg: &mut web::ServiceConfig) {
    register(cfg, |path| path.strip_prefix(API_PREFIX));
}

/// The routes outside the API (liveness and readiness), at the root.
pub fn register_root(cfg: &mut web::ServiceConfig) {
    register(cfg, |path| (!path.starts_with(API_PREFIX)).then_some(path));
}

/// One resource per path with each of its methods; any other method answers 405 with `Allow`.
fn register(cfg: &mut web::ServiceConfig, place: fn(&str) -> Option<&str>) {
    let mut paths: Vec<(&str, Vec<&'static Route>)> = Vec::new();
    for r in all() {
        let Some(rest) = place(&r.path) else { continue };
        match paths.iter_mut().find(|(p, _)| *p == rest) {
            Some((_, routes)) => routes.push(r),
            None => paths.push((rest, vec![r])),
        }
    }
    let paths = paths
        .into_iter()
        .map(|(path, routes)| (path.split('/').skip(1).collect(), routes))
        .collect();
    for placed in plan(paths) {
        match built(placed) {
            Node::Resource(r) => cfg.service(r),
            Node::Scope(s) => cfg.service(s),
        };
    }
}

/// A path as its segments below the level being placed, with what is declared on it.
type Segmented<'a, T> = (Vec<&'a str>, T);

/// Where a path goes in the router: a resource at the rest of its path, or a scope of paths
/// sharing a leading segment.
#[derive(Debug, PartialEq)]
enum Placed<T> {
    Resource(String, T),
    Scope(String, Vec<Placed<T>>),
}

/// Paths, each as its segments below the level being placed, grouped under scopes by their
/// leading segment, so that the router tries a handful of patterns for a request instead of
/// every path declared before its own (each a regular expression run with captures). A level
/// is split only where every path starts with a literal segment, or all with the same one:
/// two different literals never match the same request, so a request reaches the route it
/// reached when every path was tried in turn. A level that is not split keeps its paths in
/// their declared order.
fn plan<T>(paths: Vec<Segmented<'_, T>>) -> Vec<Placed<T>> {
    let mut firsts: Vec<&str> = Vec::new();
    for (segments, _) in &paths {
        if let Some(first) = segments.first() {
            if !firsts.contains(first) {
                firsts.push(first);
            }
        }
    }
    let splits = firsts.len() == 1 || firsts.iter().all(|first| !first.contains('{'));
    if !splits {
        return paths
            .into_iter()
            .map(|(segments, routes)| Placed::Resource(rest(&segments), routes))
            .collect();
    }
    let (here, below): (Vec<_>, Vec<_>) = paths.into_iter().partition(|(s, _)| s.is_empty());
    let mut placed: Vec<Placed<T>> = here
        .into_iter()
        .map(|(_, routes)| Placed::Resource(String::new(), routes))
        .collect();
    let mut groups: Vec<(&str, Vec<Segmented<'_, T>>)> = Vec::new();
    for (segments, routes) in below {
        match groups.iter_mut().find(|(first, _)| *first == segments[0]) {
            Some((_, members)) => members.push((segments, routes)),
            None => groups.push((segments[0], vec![(segments, routes)])),
        }
    }
    for (first, mut members) in groups {
        if members.len() == 1 {
            let (segments, routes) = members.remove(0);
            placed.push(Placed::Resource(rest(&segments), routes));
        } else {
            let inner = members
                .into_iter()
                .map(|(segments, routes)| (segments[1..].to_vec(), routes))
                .collect();
            placed.push(Placed::Scope(format!("/{first}"), plan(inner)));
        }
    }
    placed
}

/// Segments as a path below a scope: `/a/{b}`.
fn rest(segments: &[&str]) -> String {
    segments.iter().map(|s| format!("/{s}")).collect()
}

/// A path's resource, or a scope of paths that share a leading segment.
enum Node {
    Resource(Resource),
    Scope(actix_web::Scope),
}

fn built(placed: Placed<Vec<&'static Route>>) -> Node {
    match placed {
        Placed::Resource(path, routes) => Node::Resource(resource(&path, routes)),
        Placed::Scope(prefix, inner) => Node::Scope(inner.into_iter().map(built).fold(
            web::scope(&prefix),
            |scope, node| match node {
                Node::Resource(r) => scope.service(r),
                Node::Scope(s) => scope.service(s),
            },
        )),
    }
}

/// The resource at `path` with each of its routes' methods.
fn resource(path: &str, routes: Vec<&'static Route>) -> Resource {
    let allow = routes
        .iter()
        .map(|r| r.method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut resource = web::resource(path).default_service(web::to(move || {
        let allow = allow.clone();
        async move { method_not_allowed(allow) }
    }));
    for r in routes {
        resource = (r.register)(resource);
    }
    resource
}

fn method_not_allowed(allow: String) -> Result<HttpResponse, actix_web::Error> {
    let mut response = actix_web::ResponseError::error_response(&AppError::MethodNotAllowed);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_declared_once_with_an_access_rule() {
        let routes = all();
        assert!(routes.len() > 100);
        for (i, r) in routes.iter().enumerate() {
            assert!(
                !routes[i + 1..]
                    .iter()
                    .any(|o| o.method == r.method && o.path == r.path),
                "{} {} declared twice",
                r.method,
                r.path
            );
        }
        assert_eq!(access("GET", "/health"), Some(Access::Public));
        assert_eq!(
            access("GET", "/api/v1/sites/{site_id}/cd/pages"),
            Some(Access::Action(Action::CdRead))
        );
        assert_eq!(access("DELETE", "/api/v1/sites/{site_id}/cd/pages"), None);
    }

    fn segments(path: &str) -> Vec<&str> {
        path.split('/').skip(1).collect()
    }

    #[test]
    fn paths_are_grouped_by_leading_segment_only_where_no_request_could_change_route() {
        let paths = [
            "/sites",
            "/sites/{id}",
            "/sites/{id}/doses",
            "/sites/{id}/rounds",
            "/me",
        ];
        let placed = plan(paths.iter().map(|p| (segments(p), *p)).collect());
        use Placed::{Resource as R, Scope as S};
        assert_eq!(
            placed,
            vec![
                S(
                    "/sites".into(),
                    vec![
                        R("".into(), "/sites"),
                        S(
                            "/{id}".into(),
                            vec![
                                R("".into(), "/sites/{id}"),
                                R("/doses".into(), "/sites/{id}/doses"),
                                R("/rounds".into(), "/sites/{id}/rounds"),
                            ]
                        ),
                    ]
                ),
                R("/me".into(), "/me"),
            ]
        );
        // A literal and a parameter side by side may both match one request ("/doses/due"),
        // so that level keeps its declared order, whatever the leading segments.
        let paths = ["/doses/{id}", "/doses/due/x", "/doses/{id}/x"];
        let placed = plan(paths.iter().map(|p| (segments(p), *p)).collect());
        assert_eq!(
            placed,
            vec![S(
                "/doses".into(),
                vec![
                    R("/{id}".into(), "/doses/{id}"),
                    R("/due/x".into(), "/doses/due/x"),
                    R("/{id}/x".into(), "/doses/{id}/x"),
                ]
            )]
        );
    }
}
