//! The OpenAPI document of the admin API, built from the same endpoint list as the router.

use axum::Json;
use serde_json::{json, Map, Value};

use super::endpoints;

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

/// The rule schema (the same field names as the YAML files).
pub fn rule_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "target"],
        "properties": {
            "name": { "type": "string" },
            "enabled": { "type": "boolean", "default": true },
            "description": { "type": "string" },
            "sources": strings(),
            "events": strings(),
            "actions": strings(),
            "repositories": strings(),
            "forks": { "type": "boolean", "default": false },
            "branches": strings(),
            "branches_ignore": strings(),
            "tags": strings(),
            "tags_ignore": strings(),
            "paths": strings(),
            "paths_ignore": strings(),
            "paths_unknown": { "type": "string", "enum": ["match", "skip"] },
            "when": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "path": { "type": "string", "description": "JSONPath over the raw payload" },
                    "field": { "type": "string", "description": "a normalised event field" },
                    "equals": {}, "in": { "type": "array" },
                    "matches": { "type": "string" }, "exists": { "type": "boolean" },
                    "not": { "type": "object" }
                }
            }},
            "target": { "type": "string" },
            "template_id": { "type": "string", "format": "uuid" },
            "snapshot_id": { "type": "string", "format": "uuid" },
            "template": { "type": "string", "description": "a run template's name, resolved to template_id on the target when the rule is saved" },
            "snapshot": { "type": "string", "description": "a pipeline snapshot's name, resolved to snapshot_id on the target when the rule is saved" },
            "run_config": { "type": "object" }
        }
    })
}

pub fn dry_run_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "source": { "type": "string" },
            "headers": { "type": "object", "additionalProperties": { "type": "string" } },
            "payload": { "type": "object" },
            "delivery_id": { "type": "string", "format": "uuid" }
        }
    })
}

pub fn backtest_schema() -> Value {
    json!({
        "type": "object",
        "required": ["rule"],
        "properties": {
            "rule": { "oneOf": [rule_schema(), { "type": "string", "description": "id or name of a saved rule" }] },
            "since": { "type": "string", "description": "RFC 3339 or unix milliseconds" },
            "until": { "type": "string" },
            "count": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 },
            "source": { "type": "string" }
        }
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "error": { "type": "object", "properties": {
            "code": { "type": "string" }, "message": { "type": "string" }, "field": { "type": "string" }
        }}}
    })
}

/// Builds the document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for endpoint in endpoints() {
        let item = paths
            .entry(format!("/api/v1{}", endpoint.path))
            .or_insert_with(|| json!({}));
        let parameters: Vec<Value> = endpoint
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut operation = json!({
            "summary": endpoint.summary,
            "parameters": parameters,
            "responses": {
                "200": { "description": "OK", "content": { "application/json": {} } },
                "400": { "description": "Invalid request", "content": { "application/json": { "schema": error_schema() } } },
                "401": { "description": "Missing or wrong bearer token", "content": { "application/json": { "schema": error_schema() } } },
                "404": { "description": "Not found", "content": { "application/json": { "schema": error_schema() } } },
                "409": { "description": "Conflicts with the current state (a name taken, a job in the wrong status)", "content": { "application/json": { "schema": error_schema() } } },
                "503": { "description": "The database is unavailable; retry", "content": { "application/json": { "schema": error_schema() } } }
            }
        });
        match (endpoint.method, endpoint.path) {
            ("post", "/rules") => {
                operation["responses"]["201"] = json!({ "description": "Created" })
            }
            ("delete", _) => operation["responses"]["204"] = json!({ "description": "Deleted" }),
            _ => {}
        }
        if let Some(schema) = endpoint.request {
            operation["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema } } });
        }
        item[endpoint.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "zenhook admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Rules, deliveries and jobs of a zenhook service."
        },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}
