//! The gRPC client API end to end against a real `meridian dev`: streaming
//! Put and Get (with ranges), Stat, List with paging, Delete, buckets, and
//! the health and reflection services that grpcurl relies on.

use anyhow::{ensure, Context, Result};
use futures::StreamExt;
use meridian_chaos_tests::data::{blake3_hex, random_bytes};
use meridian_chaos_tests::grpc::Api;
use meridian_chaos_tests::{DevCluster, DevOptions};
use meridian_proto::v1::*;
use tonic::transport::Channel;

async fn client(cluster: &DevCluster) -> Result<Api> {
    Api::connect(&cluster.grpc_endpoint()).await
}

fn put_frames(header: PutHeader, data: &[u8], frame: usize) -> Vec<PutRequest> {
    let mut frames = vec![PutRequest {
        frame: Some(put_request::Frame::Header(header)),
    }];
    frames.extend(data.chunks(frame).map(|c| PutRequest {
        frame: Some(put_request::Frame::Data(bytes::Bytes::copy_from_slice(c))),
    }));
    frames
}

async fn get(c: &mut Api, req: GetRequest) -> Result<(ObjectInfo, Vec<u8>)> {
    let (info, body, _) = c.read_verified(req).await?;
    Ok((info, body))
}

fn header(bucket: &str, key: &str, site: &str) -> PutHeader {
    PutHeader {
        bucket: bucket.into(),
        key: key.into(),
        site: site.into(),
        content_type: "application/x-hdf5".into(),
        user_meta: [("run".to_string(), "42".to_string())].into(),
        expected_size: None,
        expected_blake3: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_put_get_stat_list_delete() -> Result<()> {
    let cluster =
        DevCluster::start_serving(DevOptions::default().with_chunk_size("256KiB")).await?;
    let mut c = client(&cluster).await?;
    c.create_bucket(CreateBucketRequest {
        bucket: "juno".into(),
        site: "Jiangmen".into(),
    })
    .await?;
    let dup = c
        .create_bucket(CreateBucketRequest {
            bucket: "juno".into(),
            site: String::new(),
        })
        .await;
    ensure!(
        dup.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::AlreadyExists),
        "{dup:?}"
    );
    let bad = c
        .create_bucket(CreateBucketRequest {
            bucket: "Bad_Name".into(),
            site: String::new(),
        })
        .await;
    ensure!(
        bad.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::InvalidArgument),
        "{bad:?}"
    );

    // A multi-chunk object in uneven frames, with the size and hash the
    // client expects: the server checks both.
    let data = random_bytes(11, 3 * 256 * 1024 + 12_345);
    let mut h = header("juno", "raw/run42.h5", "Jiangmen");
    h.expected_size = Some(data.len() as u64);
    h.expected_blake3 = blake3_hex(&data);
    let resp = c.put(put_frames(h, &data, 100_000)).await?.into_inner();
    let info = resp.info.context("Put returned no info")?;
    ensure!(
        info.size == data.len() as u64 && info.blake3 == blake3_hex(&data),
        "{info:?}"
    );
    ensure!(
        info.chunk_count == 4 && info.ingest_site == "Jiangmen",
        "{info:?}"
    );
    ensure!(
        info.replicas
            .iter()
            .any(|r| r.site == "Jiangmen" && r.state == "complete"),
        "{info:?}"
    );
    ensure!(
        info.replicas.len() == 3,
        "default policy keeps three copies: {info:?}"
    );

    // A wrong expected hash commits nothing.
    let mut h = header("juno", "raw/bad-hash", "Jiangmen");
    h.expected_blake3 = "00".repeat(32);
    let r = c.put(put_frames(h, &data, 65_536)).await;
    ensure!(
        r.as_ref().is_err_and(|s| s.code() == tonic::Code::DataLoss),
        "{r:?}"
    );
    // A stream shorter than its declared size commits nothing.
    let mut h = header("juno", "raw/short", "Jiangmen");
    h.expected_size = Some(data.len() as u64 + 1);
    let r = c.put(put_frames(h, &data, 65_536)).await;
    ensure!(r.is_err(), "a short stream was accepted");
    for key in ["raw/bad-hash", "raw/short"] {
        let s = c
            .stat(StatRequest {
                bucket: "juno".into(),
                key: key.into(),
                max_staleness_ms: 0,
            })
            .await;
        ensure!(
            s.as_ref().is_err_and(|s| s.code() == tonic::Code::NotFound),
            "{key}: {s:?}"
        );
    }

    // Whole and ranged reads, at the ingest site and at Beijing.
    for site in ["Jiangmen", "Beijing", ""] {
        let (info, body) = get(
            &mut c,
            GetRequest {
                bucket: "juno".into(),
                key: "raw/run42.h5".into(),
                site: site.into(),
                offset: 0,
                length: None,
                ..Default::default()
            },
        )
        .await?;
        ensure!(body == data, "whole read at {site:?} differs");
        ensure!(
            info.user_meta.get("run").map(String::as_str) == Some("42"),
            "{info:?}"
        );
        ensure!(info.content_type == "application/x-hdf5", "{info:?}");
    }
    let (off, len) = (256 * 1024 - 10, 300_000u64);
    let (_, body) = get(
        &mut c,
        GetRequest {
            bucket: "juno".into(),
            key: "raw/run42.h5".into(),
            site: "Jiangmen".into(),
            offset: off as u64,
            length: Some(len),
            ..Default::default()
        },
    )
    .await?;
    ensure!(
        body == data[off..off + len as usize],
        "ranged read across a chunk boundary differs"
    );
    let past = get(
        &mut c,
        GetRequest {
            bucket: "juno".into(),
            key: "raw/run42.h5".into(),
            site: String::new(),
            offset: data.len() as u64 + 1,
            length: None,
            ..Default::default()
        },
    )
    .await;
    ensure!(past.is_err(), "a read past the end succeeded");

    // Listing pages of 2 over 5 keys.
    for i in 0..4 {
        let h = header("juno", &format!("list/{i}"), "Beijing");
        c.put(put_frames(h, b"x", 1)).await?;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..10 {
        let page = c
            .list(ListRequest {
                bucket: "juno".into(),
                prefix: String::new(),
                page_size: 2,
                page_token: token.clone(),
                max_staleness_ms: 0,
            })
            .await?
            .into_inner();
        ensure!(page.objects.len() <= 2, "page too long");
        seen.extend(page.objects.into_iter().map(|o| o.key));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    ensure!(
        seen == ["list/0", "list/1", "list/2", "list/3", "raw/run42.h5"],
        "{seen:?}"
    );

    // A key in any script (and with spaces, '+' and '%') is signed for in
    // its percent-encoded form, and stored and read back as it is.
    let odd = "数据/运行 1+2%.root";
    c.put(put_frames(header("juno", odd, "Beijing"), b"run", 2))
        .await?;
    let (info, body) = get(
        &mut c,
        GetRequest {
            bucket: "juno".into(),
            key: odd.into(),
            ..Default::default()
        },
    )
    .await?;
    ensure!(info.key == odd && body == b"run", "{info:?}");
    c.delete(DeleteRequest {
        bucket: "juno".into(),
        key: odd.into(),
    })
    .await?;

    let buckets = c.list_buckets(ListBucketsRequest {}).await?.into_inner();
    ensure!(
        buckets
            .buckets
            .iter()
            .any(|b| b.name == "juno" && b.site == "Jiangmen"),
        "{buckets:?}"
    );

    c.delete(DeleteRequest {
        bucket: "juno".into(),
        key: "raw/run42.h5".into(),
    })
    .await?;
    let gone = c
        .stat(StatRequest {
            bucket: "juno".into(),
            key: "raw/run42.h5".into(),
            max_staleness_ms: 0,
        })
        .await;
    ensure!(
        gone.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::NotFound),
        "{gone:?}"
    );
    let missing = c
        .delete(DeleteRequest {
            bucket: "nope".into(),
            key: "k".into(),
        })
        .await;
    ensure!(
        missing
            .as_ref()
            .is_err_and(|s| s.code() == tonic::Code::NotFound),
        "{missing:?}"
    );
    Ok(())
}

/// The services `endpoint`'s reflection lists.
async fn listed_services(endpoint: &str) -> Result<Vec<String>> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let channel = Channel::from_shared(endpoint.to_string())?
        .connect()
        .await?;
    let mut refl = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = refl
        .server_reflection_info(futures::stream::iter([req]))
        .await?
        .into_inner();
    let first = resp.next().await.context("no reflection answer")??;
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        anyhow::bail!("unexpected reflection answer: {first:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    Ok(names)
}

async fn serving(endpoint: &str, service: &str) -> Result<bool> {
    let channel = Channel::from_shared(endpoint.to_string())?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    match health
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
    {
        Ok(r) => Ok(r.into_inner().status
            == tonic_health::pb::health_check_response::ServingStatus::Serving as i32),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
        Err(s) => Err(s.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_port_serves_its_own_callers_only() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let (client, admin) = (cluster.grpc_endpoint(), cluster.admin_endpoint());
    ensure!(
        listed_services(&client).await?
            == [
                "grpc.health.v1.Health",
                "meridian.v1.DatasetService",
                "meridian.v1.ObjectService"
            ],
        "the client port lists only client services"
    );
    ensure!(
        listed_services(&admin).await? == ["grpc.health.v1.Health", "meridian.v1.AdminService"],
        "the admin port lists only the admin service"
    );
    for (endpoint, service, want) in [
        (&client, "meridian.v1.ObjectService", true),
        (&client, "meridian.v1.DatasetService", true),
        (&client, "meridian.v1.AdminService", false),
        (&admin, "meridian.v1.AdminService", true),
        (&admin, "meridian.v1.ObjectService", false),
        (&admin, "meridian.v1.DatasetService", false),
    ] {
        ensure!(
            serving(endpoint, service).await? == want,
            "{service} serving at {endpoint}: expected {want}"
        );
    }

    // Calls to services a port does not carry are refused whole.
    let channel = Channel::from_shared(client.clone())?.connect().await?;
    let mut admin_on_client =
        meridian_proto::v1::admin_service_client::AdminServiceClient::new(channel.clone());
    let refused = admin_on_client
        .status(meridian_proto::v1::StatusRequest::default())
        .await
        .expect_err("no admin API on the client port");
    ensure!(refused.code() == tonic::Code::Unimplemented, "{refused:?}");
    let mut data_on_client =
        meridian_proto::v1::data_node_service_client::DataNodeServiceClient::new(channel.clone());
    let refused = data_on_client
        .read_chunk(meridian_proto::v1::ReadChunkRequest::default())
        .await
        .expect_err("no chunk reads on the client port");
    ensure!(refused.code() == tonic::Code::Unimplemented, "{refused:?}");
    let mut raft_on_client =
        meridian_proto::v1::raft_service_client::RaftServiceClient::new(channel);
    let refused = raft_on_client
        .forward_write(meridian_proto::v1::CommandBatch::default())
        .await
        .expect_err("no forwarded writes on the client port");
    ensure!(refused.code() == tonic::Code::Unimplemented, "{refused:?}");

    // The admin API answers on its own port (to the administrator:
    // chaos-tests/tests/admin_auth.rs).
    cluster.ctl().json(&["status"]).await?;
    Ok(())
}
