//! A logged-in reader of a real ZenML server (the `zenml_server` env file), for tests that
//! check what zenhook did there.

use std::collections::HashMap;

use serde_json::Value;

/// A logged-in reader of the ZenML server, to check what zenhook did there.
pub struct ZenmlReader {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl ZenmlReader {
    pub async fn login(zenml: &HashMap<String, String>) -> ZenmlReader {
        let http = reqwest::Client::new();
        let url = zenml["ZENML_URL"].clone();
        let login: Value = http
            .post(format!("{url}/api/v1/login"))
            .form(&[("password", zenml["ZENML_API_KEY"].as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();
        ZenmlReader { http, url, token }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The first page of runs that carry `tag`.
    pub async fn runs_with_tag(&self, tag: &str) -> Value {
        self.get(&format!("/api/v1/runs?tags=equals:{tag}&size=10"))
            .await
    }

    /// How many runs carry `tag`.
    pub async fn runs_tagged(&self, tag: &str) -> u64 {
        self.runs_with_tag(tag).await["total"].as_u64().unwrap()
    }
}
