//! Hand-written statements kept prepared on their connection.
//!
//! diesel never caches a `sql_query`, because its text could be built from values. On the
//! posting path that meant PostgreSQL parsed and planned the same few statements afresh on
//! every dose, which cost more than running them. A statement wrapped in [`Prepared`] is cached
//! by its text, so PostgreSQL parses it once per connection and, after a few runs, reuses one
//! plan. Only statements whose text is built from constants (column lists, placeholders) may be
//! wrapped: the cache holds one entry per distinct text for the connection's lifetime.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;
use diesel::RunQueryDsl;

/// A statement whose text is one of a fixed few, so its connection may keep it prepared.
pub struct Prepared<Q>(Q);

/// Marks `query` as safe to keep prepared: its text must not carry values, only placeholders.
pub fn prepared<Q>(query: Q) -> Prepared<Q> {
    Prepared(query)
}

impl<Q, DB> QueryFragment<DB> for Prepared<Q>
where
    Q: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    // The wrapped query says it is unsafe only because it cannot know where its text came
    // from; `prepared` is called only on texts built from constants.
    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No static id: the cache keys the statement by its text and its binds' types.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Prepared<Q> {}
