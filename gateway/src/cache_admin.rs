//! `tributary cache clear [SOURCE] | stats`: the cache lives in the running
//! server's memory, so these ask the server, through its HTTP API.

use anyhow::Context;
use serde_json::Value;

use crate::Failure;
use crate::cli::{CacheCommand, ServerArgs};
use crate::engine::{self, Settings};

pub async fn run(settings: &Settings, command: CacheCommand) -> Result<(), Failure> {
    match command {
        CacheCommand::Clear { source, server } => {
            let path = match &source {
                Some(source) => format!("/v1/cache/{source}"),
                None => "/v1/cache".to_owned(),
            };
            let answer = call(settings, &server, reqwest::Method::DELETE, &path).await?;
            match &source {
                Some(source) => println!("cleared the cached results of source \"{source}\""),
                None => println!("cleared the result cache"),
            }
            if let Some(stats) = answer.get("stats") {
                print_stats(stats);
            }
        }
        CacheCommand::Stats { server } => {
            let stats = call(settings, &server, reqwest::Method::GET, "/v1/cache").await?;
            print_stats(&stats);
        }
    }
    Ok(())
}

fn print_stats(stats: &Value) {
    let Some(fields) = stats.as_object() else {
        return;
    };
    let width = fields.keys().map(String::len).max().unwrap_or(0);
    for (name, value) in fields {
        println!("{name:<width$}  {value}");
    }
}

async fn call(
    settings: &Settings,
    server: &ServerArgs,
    method: reqwest::Method,
    path: &str,
) -> Result<Value, Failure> {
    let base = match &server.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let configured = settings
                .config
                .as_ref()
                .and_then(|c| c.raw.server.http_addr.as_deref());
            format!("http://{}", engine::effective_http_addr(configured))
        }
    };
    let url = format!("{base}{path}");
    let mut request = reqwest::Client::new().request(method, &url);
    if let Some(token) = &server.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| {
        format!(
            "cannot reach the server at {base} (is `tributary serve` running? --url names another)"
        )
    })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("cannot read the answer of {url}"))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| body.to_string(), str::to_owned);
        return Err(Failure::Runtime(anyhow::anyhow!(
            "the server answered {status}: {message}"
        )));
    }
    Ok(body)
}
