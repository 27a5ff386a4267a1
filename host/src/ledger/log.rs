//! The request log: a bounded queue, a batching writer, and the stores
//! (SQLite, PostgreSQL) with their migrations and queries.
