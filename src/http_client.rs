//! How the proxy's outgoing HTTP clients are built with respect to TLS: only a
//! client for an https URL carries trust roots. Building them (the system's
//! certificates, read and parsed on Linux) costs memory and time at every
//! build, and can fail where the system has none, which must never stop the
//! proxy from reaching its plain-http engine.

use url::Url;

/// A client builder for plain http (the engine, another acebridge on this
/// machine): no trust roots, so an https URL given to it fails to connect.
pub(crate) fn plain_http() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_certs_only([])
}

/// A client builder for `url`: the system's trust roots when it is https.
pub(crate) fn for_url(url: &Url) -> reqwest::ClientBuilder {
    if url.scheme() == "https" {
        reqwest::Client::builder()
    } else {
        plain_http()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain-http client builds without looking at the system's roots, so a
    /// machine without any still reaches its engine.
    #[test]
    fn clients_for_http_and_https_urls_build() {
        let http = Url::parse("http://127.0.0.1:6878/").expect("url");
        let https = Url::parse("https://example.com/list.m3u").expect("url");
        assert!(for_url(&http).build().is_ok());
        assert!(plain_http().build().is_ok());
        // Needs the system's roots, which the test machines have.
        assert!(for_url(&https).build().is_ok());
    }
}
