//! Both backends' migrations must give the same schema: tables, columns (type family and
//! nullability), primary keys, unique constraints and indexes.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestDb};
use sqlx::Row;

/// Maps each backend's type names onto one family, so INTEGER and BIGINT compare equal.
fn family(type_name: &str) -> &'static str {
    match type_name.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int8" => "integer",
        "text" => "text",
        "blob" | "bytea" => "bytes",
        other => panic!("unmapped column type {other}: add it to the parity test"),
    }
}

async fn sqlite_schema(url: &str) -> BTreeSet<String> {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = BTreeSet::new();
    for table in tables {
        schema.insert(format!("table {table}"));
        let columns = sqlx::query(&format!("PRAGMA table_info({table})"))
            .fetch_all(&pool)
            .await
            .unwrap();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for column in columns {
            let name: String = column.get("name");
            let type_name: String = column.get("type");
            let not_null: bool = column.get::<i64, _>("notnull") == 1;
            let pk_order: i64 = column.get("pk");
            if pk_order > 0 {
                pk.push((pk_order, name.clone()));
            }
            // A primary key column is NOT NULL in Postgres whatever it says.
            let not_null = not_null || pk_order > 0;
            schema.insert(format!(
                "column {table}.{name} {} {}",
                family(&type_name),
                if not_null { "not null" } else { "null" }
            ));
        }
        pk.sort();
        let pk: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
        schema.insert(format!("primary key {table}({})", pk.join(",")));
        let indexes = sqlx::query(&format!("PRAGMA index_list({table})"))
            .fetch_all(&pool)
            .await
            .unwrap();
        for index in indexes {
            let name: String = index.get("name");
            let unique: bool = index.get::<i64, _>("unique") == 1;
            let origin: String = index.get("origin");
            if origin == "pk" {
                continue;
            }
            let cols: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT name FROM pragma_index_info('{name}') ORDER BY seqno"
            ))
            .fetch_all(&pool)
            .await
            .unwrap();
            schema.insert(format!(
                "{} {table}({})",
                if unique { "unique" } else { "index" },
                cols.join(",")
            ));
        }
    }
    schema
}

async fn postgres_schema(url: &str) -> BTreeSet<String> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let mut schema = BTreeSet::new();
    let columns = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, \
         is_nullable::text AS nullable FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for column in columns {
        let table: String = column.get("t");
        schema.insert(format!("table {table}"));
        let nullable: String = column.get("nullable");
        schema.insert(format!(
            "column {table}.{} {} {}",
            column.get::<String, _>("c"),
            family(&column.get::<String, _>("ty")),
            if nullable == "YES" {
                "null"
            } else {
                "not null"
            }
        ));
    }
    let indexes = sqlx::query(
        "SELECT t.relname::text AS t, ix.indisprimary AS pk, ix.indisunique AS uq, \
         array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, n) \
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n), ',') AS cols \
         FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace ns ON ns.oid = t.relnamespace \
         WHERE ns.nspname = 'public' AND t.relname NOT LIKE '_sqlx%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for index in indexes {
        let table: String = index.get("t");
        let cols: String = index.get("cols");
        let kind = if index.get::<bool, _>("pk") {
            "primary key"
        } else if index.get::<bool, _>("uq") {
            "unique"
        } else {
            "index"
        };
        schema.insert(format!("{kind} {table}({cols})"));
    }
    schema
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let sqlite = TestDb::new(Backend::Sqlite).await.unwrap();
    sqlite.store().await;
    let Some(postgres) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    postgres.store().await;

    let sqlite = sqlite_schema(&sqlite.url).await;
    let postgres = postgres_schema(&postgres.url).await;
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "schemas differ\nonly in sqlite: {only_sqlite:#?}\nonly in postgres: {only_postgres:#?}"
    );
    // The comparison saw the real schema, not two empty sets.
    assert!(sqlite.contains("unique deliveries(source,sender_delivery_id)"));
    assert!(sqlite.contains("unique jobs(delivery_id,rule_id,generation)"));
    assert!(sqlite.contains("column deliveries.body bytes not null"));
}
