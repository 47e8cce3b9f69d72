//! Opening stores from their specs.

use skiff_store::testing::EtcdServer;
use skiff_store::{OpenError, Store};

async fn round_trip(store: &dyn Store) {
    let created = store.create("/open/k", b"v".to_vec()).await.unwrap();
    assert_eq!(store.get("/open/k").await.unwrap(), Some(created));
}

#[tokio::test]
async fn embedded_opens_a_file_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let store = skiff_store::open("embedded", dir.path()).await.unwrap();
    round_trip(store.as_ref()).await;
    assert!(dir.path().join("store.redb").is_file());
}

#[tokio::test]
async fn an_etcd_spec_connects_to_etcd() {
    let server = tokio::task::spawn_blocking(EtcdServer::start)
        .await
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = skiff_store::open(&server.spec(), dir.path()).await.unwrap();
    round_trip(store.as_ref()).await;
    assert!(!dir.path().join("store.redb").exists());
}

#[tokio::test]
async fn an_unknown_spec_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = skiff_store::open("etcd:/127.0.0.1:2379", dir.path()).await else {
        panic!("a malformed spec opened a store");
    };
    assert!(matches!(err, OpenError::InvalidSpec { .. }), "{err:?}");
    assert!(err.to_string().contains("etcd:/127.0.0.1:2379"), "{err}");
}
