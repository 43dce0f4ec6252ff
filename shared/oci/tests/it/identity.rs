//! Compartments: the subtree listing across pages, and the tree with its root.

use auditfwd_oci::{Ocid, RetryConfig, TimeoutConfig, identity};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{TENANCY, config};

fn comp(id: &str, parent: &str, name: &str) -> serde_json::Value {
    json!({"id": id, "compartmentId": parent, "name": name, "lifecycleState": "ACTIVE", "isAccessible": true, "timeCreated": "2020-01-01T00:00:00.000Z", "futureField": 1})
}

#[tokio::test]
async fn compartment_tree_is_root_plus_every_page_of_the_subtree_listing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/20160918/compartments/{TENANCY}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(comp(TENANCY, TENANCY, "acme")))
        .expect(1)
        .mount(&server)
        .await;
    let list = || {
        Mock::given(method("GET"))
            .and(path("/20160918/compartments"))
            .and(query_param("compartmentId", TENANCY))
            .and(query_param("compartmentIdInSubtree", "true"))
            .and(query_param("accessLevel", "ANY"))
            .and(query_param("limit", "1000"))
    };
    list()
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([
                    comp("ocid1.compartment.oc1..prod", TENANCY, "prod"),
                    comp("ocid1.compartment.oc1..dev", TENANCY, "dev")
                ]))
                .insert_header("opc-next-page", "2"),
        )
        .expect(1)
        .mount(&server)
        .await;
    list()
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([comp(
            "ocid1.compartment.oc1..app",
            "ocid1.compartment.oc1..prod",
            "app"
        )])))
        .expect(1)
        .mount(&server)
        .await;

    let client = identity::Client::new(&config(
        &server,
        RetryConfig::disabled(),
        TimeoutConfig::default(),
    ));
    let tree = client
        .compartment_tree(Ocid::parse(TENANCY).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tree.len(), 4);
    assert_eq!(tree.root().name, "acme");
    let order: Vec<&str> = tree.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(order, ["acme", "dev", "prod", "app"]);
    assert_eq!(
        tree.path("ocid1.compartment.oc1..app").unwrap(),
        ["acme", "prod", "app"]
    );
    let app = tree.get("ocid1.compartment.oc1..app").unwrap();
    assert_eq!(app.lifecycle_state, Some(identity::LifecycleState::Active));
    assert_eq!(app.extra.get("futureField"), Some(&json!(1)));
}
