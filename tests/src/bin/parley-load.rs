//! `parley-load`: the load generator behind `scripts/bench` (see `docs/benchmarks.md`).
//!
//! It starts the homeserver as a process of its own (so that its memory can be read from
//! `/proc`), on a fresh database of the cluster named by `PARLEYTEST_PG_URL`, and measures:
//!
//! - send throughput and latency: `--senders` concurrent senders, each sending `--messages`
//!   messages one after another, over REST and over the WebSocket; once with group commit
//!   (`client.send_batch_max`, default 256) and once with a batch size of 1 for comparison;
//! - the commit path alone: `Rooms::send` called in this process from `--senders` tasks (the
//!   same users, rooms and content), with the homeserver process stopped, so that group commit
//!   is measured without HTTP, WebSocket, JSON framing, session checks or sockets;
//! - the reference: PostgreSQL inserting the same rows into a copy of the `event` table on the
//!   same database, in batches of 256 rows per transaction and one row per transaction;
//! - the cost of an idle WebSocket: the server's resident memory before and after `--idle`
//!   connections are opened, per connection.
//!
//! Speed and memory are measured here, never asserted by the test suite.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool that prints its report"
)]

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Parser;
use parley_homeserver::{
    accounts::AuthUser,
    rooms::{Rooms, SendOutcome},
};
use parley_tests::{
    pg::{PgCluster, TestDatabase},
    server::{ServerProcess, TestConfig, WebFixture},
    users::{TestUser, seg},
    ws::TestSocket,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection};

/// Measures message throughput against PostgreSQL's batched insert rate, and the memory of
/// idle WebSockets.
#[derive(Parser, Debug)]
struct Args {
    /// The homeserver binary (`target/release/parley-test-server` or `target/release/parley`).
    #[arg(long)]
    server: PathBuf,
    /// Concurrent senders.
    #[arg(long, default_value_t = 64)]
    senders: usize,
    /// Messages per sender and run.
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Users the senders are spread over (sender i is user i mod users).
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// Members per room (users are grouped in order); every event goes to each member's
    /// sockets in the WebSocket run.
    #[arg(long, default_value_t = 4)]
    room_size: usize,
    /// Idle WebSockets to open for the memory measurement (0: skip).
    #[arg(long, default_value_t = 2000)]
    idle: usize,
    /// `database.max_connections` of the server.
    #[arg(long, default_value_t = 16)]
    db_connections: u32,
    /// Batch sizes (`client.send_batch_max`) to run the throughput tests with.
    #[arg(long, value_delimiter = ',', default_values_t = [256, 1])]
    batch: Vec<usize>,
    /// Run only the commit-path measurement (`Rooms::send` in process) and the reference
    /// inserts: no REST, WebSocket or idle runs.
    #[arg(long)]
    commit_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!("# Parley load run\n");
    println!("{}\n", machine());
    println!(
        "Senders: {}, messages per sender: {}, users: {}, rooms of {} members; server \
         database.max_connections = {}.\n",
        args.senders, args.messages, args.users, args.room_size, args.db_connections
    );
    if !args.commit_only {
        println!(
            "CPU µs per message: the server / its PostgreSQL backends / this load generator.\n\n\
             | run | sends | sends/commit | msgs/s | p50 ms | p90 ms | p99 ms | max ms | CPU µs/msg |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
    }
    let mut rows = Vec::new();
    for &batch in &args.batch {
        if args.commit_only {
            break;
        }
        let bench = Bench::start(&args, batch).await?;
        let rooms = bench.rooms().await?;
        // Warm-up (connections, caches), not counted.
        rest_run(&bench.users, &rooms, args.senders, 5, "warm").await?;
        let before = bench.cpu();
        let mut rest = rest_run(&bench.users, &rooms, args.senders, args.messages, "rest")
            .await?
            .with_cpu(before, bench.cpu());
        rest.mean_batch = bench.mean_batch("rest-").await?;
        let row = rest.row(&format!("REST, send_batch_max = {batch}"));
        println!("{row}");
        rows.push((batch, "REST", rest.rate));
        let mut ws = ws_run(&bench, &rooms, args.senders, args.messages).await?;
        ws.mean_batch = bench.mean_batch("ws-").await?;
        let row = ws.row(&format!("WebSocket, send_batch_max = {batch}"));
        println!("{row}");
        rows.push((batch, "WebSocket", ws.rate));
        if batch == args.batch.first().copied().unwrap_or(batch) {
            reference_rows(bench.db.url(), &args, &mut rows).await?;
        }
        bench.stop().await?;
    }
    let pg = rows
        .iter()
        .find(|r| r.1 == "pg256")
        .map_or(f64::NAN, |r| r.2);
    if !args.commit_only {
        println!("\nRatio to PostgreSQL's batched insert rate:\n");
        for (batch, how, rate) in rows.iter().filter(|r| r.1 == "REST" || r.1 == "WebSocket") {
            println!(
                "- {how}, send_batch_max = {batch}: {:.0}%",
                100.0 * rate / pg
            );
        }
    }

    commit_path(&args).await?;

    if args.idle > 0 && !args.commit_only {
        println!("\n## Idle WebSockets\n");
        let bench = Bench::start(&args, 256).await?;
        idle_run(&bench, args.idle).await?;
        bench.stop().await?;
    }
    Ok(())
}

/// A homeserver process on a fresh database, with signed-in users.
struct Bench {
    server: ServerProcess,
    users: Vec<TestUser>,
    room_size: usize,
    db: TestDatabase,
    _web: WebFixture,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start(args: &Args, batch: usize) -> anyhow::Result<Self> {
        let db = PgCluster::shared()?.create_database().await?;
        let web = WebFixture::new()?;
        let dir = tempfile::tempdir()?;
        let config = TestConfig::new("bench.parley.test", dir.path(), web.path(), &db);
        let file = dir.path().join("parley.toml");
        std::fs::write(&file, config.to_toml())?;
        let connections = args.db_connections.to_string();
        let batch = batch.to_string();
        let server = ServerProcess::spawn(
            &args.server,
            &file,
            &[
                ("PARLEY_DATABASE__MAX_CONNECTIONS", &connections),
                ("PARLEY_CLIENT__SEND_BATCH_MAX", &batch),
                ("PARLEY_LOG__FILTER", "warn"),
            ],
        )
        .await?;
        let mailbox = config.data_dir.join("mailbox");
        let mut users = Vec::with_capacity(args.users);
        for i in 0..args.users {
            users.push(TestUser::register_at(&server.base_url, &mailbox, &format!("u{i}")).await?);
        }
        Ok(Self {
            server,
            users,
            room_size: args.room_size.max(1),
            db,
            _web: web,
            _dir: dir,
        })
    }

    /// A group per `room_size` users; returns each user's room.
    async fn rooms(&self) -> anyhow::Result<Vec<String>> {
        let mut rooms = Vec::with_capacity(self.users.len());
        for chunk in self.users.chunks(self.room_size) {
            let Some((owner, others)) = chunk.split_first() else {
                continue;
            };
            let ids: Vec<&str> = others.iter().map(|u| u.user_id.as_str()).collect();
            let (status, body) = owner
                .post(
                    "/rooms",
                    json!({"kind": "group", "name": "load", "members": ids}),
                )
                .await;
            anyhow::ensure!(status == StatusCode::CREATED, "create room: {body}");
            let room = body["room_id"].as_str().unwrap_or_default().to_owned();
            rooms.extend(std::iter::repeat_n(room, chunk.len()));
        }
        Ok(rooms)
    }

    /// Sends per transaction among the events whose txn id starts with `prefix`: the events of
    /// one transaction share its `now()`.
    async fn mean_batch(&self, prefix: &str) -> anyhow::Result<f64> {
        let mut db = PgConnection::connect(self.db.url()).await?;
        let mean: Option<f64> = sqlx::query_scalar(
            "select count(*)::float8 / nullif(count(distinct origin_server_ts), 0) from event
             where txn_id like $1 || '%'",
        )
        .bind(prefix)
        .fetch_one(&mut db)
        .await?;
        Ok(mean.unwrap_or(0.0))
    }

    /// See [`cpu_split`].
    fn cpu(&self) -> [f64; 3] {
        let database = url::Url::parse(self.db.url())
            .map(|u| u.path().trim_start_matches('/').to_owned())
            .unwrap_or_default();
        cpu_split(self.server.pid().unwrap_or(0), &database)
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.server.signal("TERM").await?;
        let (status, log) = self.server.wait_exit(Duration::from_secs(60)).await?;
        if !status.success() {
            bail!("the server exited with {status}: {log}");
        }
        Ok(())
    }
}

/// Throughput and latencies of one run.
struct Measured {
    sends: usize,
    rate: f64,
    latencies: Vec<Duration>,
    /// CPU microseconds per send: server, its PostgreSQL backends, this load generator.
    cpu_us: [f64; 3],
    /// Sends per commit.
    mean_batch: f64,
}

impl Measured {
    fn new(mut latencies: Vec<Duration>, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        Self {
            sends: latencies.len(),
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            latencies,
            cpu_us: [0.0; 3],
            mean_batch: 0.0,
        }
    }

    /// Records the CPU used between two [`cpu_split`]s.
    fn with_cpu(mut self, before: [f64; 3], after: [f64; 3]) -> Self {
        for (i, slot) in self.cpu_us.iter_mut().enumerate() {
            let used = after.get(i).copied().unwrap_or(0.0) - before.get(i).copied().unwrap_or(0.0);
            *slot = used * 1e6 / self.sends.max(1) as f64;
        }
        self
    }

    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies
            .get(i)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }

    fn row(&self, name: &str) -> String {
        let [server, pg, client] = self.cpu_us;
        format!(
            "| {name} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {server:.0} / {pg:.0} / {client:.0} |",
            self.sends,
            self.mean_batch,
            self.rate,
            self.percentile(0.5),
            self.percentile(0.9),
            self.percentile(0.99),
            self.percentile(1.0)
        )
    }
}

fn content(sender: usize, i: usize) -> Value {
    json!({"body": format!("message {i} from sender {sender}: the quick brown fox jumps over the lazy dog")})
}

/// `senders` tasks, each sending `messages` messages one after another over REST.
async fn rest_run(
    users: &[TestUser],
    rooms: &[String],
    senders: usize,
    messages: usize,
    tag: &str,
) -> anyhow::Result<Measured> {
    timed_sends(
        users,
        rooms,
        senders,
        messages,
        tag,
        |user, room, s, i, txn| async move {
            let path = format!("/rooms/{}/send/parley.message/{txn}", seg(&room));
            let (status, body) = user.put(&path, content(s, i)).await;
            anyhow::ensure!(status == StatusCode::OK, "send: {status} {body}");
            Ok(())
        },
    )
    .await
}

/// `senders` tasks, sender `s` being user `s` mod `users` in room `s` mod `rooms`, each making
/// `messages` sends one after another (`send(user, room, s, i, txn_id)`); times each send.
async fn timed_sends<U, F, Fut>(
    users: &[U],
    rooms: &[String],
    senders: usize,
    messages: usize,
    tag: &str,
    send: F,
) -> anyhow::Result<Measured>
where
    U: Clone + Send + Sync + 'static,
    F: Fn(Arc<U>, Arc<str>, usize, usize, String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    anyhow::ensure!(!users.is_empty() && !rooms.is_empty(), "no users or rooms");
    // Shared by the senders of the same user or room: a send clones a pointer, not the value.
    let users: Vec<Arc<U>> = users.iter().cloned().map(Arc::new).collect();
    let rooms: Vec<Arc<str>> = rooms.iter().map(|r| Arc::from(r.as_str())).collect();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(senders);
    for s in 0..senders {
        let user = Arc::clone(&users[s % users.len()]);
        let room = Arc::clone(&rooms[s % rooms.len()]);
        let tag = format!("{tag}-{s}");
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(messages);
            for i in 0..messages {
                let txn = format!("{tag}-{i}");
                let sent = Instant::now();
                send(Arc::clone(&user), Arc::clone(&room), s, i, txn).await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(senders * messages);
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Measured::new(latencies, started.elapsed()))
}

/// `senders` WebSockets, each sending `messages` messages one after another and waiting for
/// each `sent` (reading past the events fanned out to it meanwhile).
async fn ws_run(
    bench: &Bench,
    rooms: &[String],
    senders: usize,
    messages: usize,
) -> anyhow::Result<Measured> {
    let users = &bench.users;
    let mut sockets = Vec::with_capacity(senders);
    for s in 0..senders {
        let user = users.get(s % users.len()).context("no users")?;
        let mut socket = TestSocket::connect(user, None, None)
            .await
            .map_err(|e| anyhow::anyhow!("connect: {e:?}"))?;
        // Up to `live` (frames sent on connecting, such as key counts, may come first).
        loop {
            let frame = socket
                .next(Duration::from_secs(30))
                .await
                .map_err(|e| anyhow::anyhow!("live: {e:?}"))?;
            if frame["type"] == "live" {
                break;
            }
        }
        sockets.push(socket);
    }
    let started = Instant::now();
    let before = bench.cpu();
    let mut tasks = Vec::with_capacity(senders);
    for (s, mut socket) in sockets.into_iter().enumerate() {
        let room = rooms.get(s % rooms.len()).context("no rooms")?.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(messages);
            for i in 0..messages {
                let txn = format!("ws-{s}-{i}");
                let sent = Instant::now();
                socket
                    .send(
                        json!({"type": "send", "room_id": room, "event_type": "parley.message",
                                 "txn_id": txn, "content": content(s, i)}),
                    )
                    .await?;
                loop {
                    let frame = socket
                        .next(Duration::from_secs(60))
                        .await
                        .map_err(|e| anyhow::anyhow!("waiting for sent: {e:?}"))?;
                    if frame["txn_id"] == txn.as_str() {
                        anyhow::ensure!(frame["type"] == "sent", "send refused: {frame}");
                        break;
                    }
                }
                latencies.push(sent.elapsed());
            }
            Ok((latencies, socket))
        }));
    }
    let mut latencies = Vec::with_capacity(senders * messages);
    let mut sockets = Vec::with_capacity(senders);
    for task in tasks {
        let (done, socket) = task.await??;
        latencies.extend(done);
        sockets.push(socket);
    }
    let measured = Measured::new(latencies, started.elapsed()).with_cpu(before, bench.cpu());
    for socket in sockets {
        socket.close().await;
    }
    Ok(measured)
}

/// Prints the reference rows (PostgreSQL inserting the same rows, batched and one per
/// transaction) and records them in `rows` as `pg256` and `pg1`.
async fn reference_rows(
    url: &str,
    args: &Args,
    rows: &mut Vec<(usize, &'static str, f64)>,
) -> anyhow::Result<(f64, f64)> {
    let total = args.senders * args.messages;
    let batched = pg_reference(url, total, 256).await?;
    println!(
        "| PostgreSQL: insert of the same rows, 256 per transaction | {total} | 256 | {batched:.0} | | | | | |"
    );
    let single = pg_reference(url, total.min(5000), 1).await?;
    println!(
        "| PostgreSQL: insert of the same rows, 1 per transaction | {} | 1 | {single:.0} | | | | | |",
        total.min(5000)
    );
    rows.push((0, "pg256", batched));
    rows.push((1, "pg1", single));
    Ok((batched, single))
}

/// The commit path alone: `Rooms::send` called in this process from `--senders` tasks (the
/// same users, rooms and content as the REST run), against a fresh database of the same
/// durable cluster, with no HTTP, WebSocket, JSON framing or session check in the way. The
/// homeserver process only signs the users up and creates the rooms, and is stopped before
/// the run, so nothing else uses the database (and nothing LISTENs: no fan-out reads).
async fn commit_path(args: &Args) -> anyhow::Result<()> {
    println!(
        "\n## Commit path (`Rooms::send` in process)\n\n\
         {} tasks each call `Rooms::send` {} times one after another, in this process, on a \
         pool of {} connections; CPU µs per message: this process (committer and callers) / \
         its PostgreSQL backends.\n\n\
         | run | sends | sends/commit | msgs/s | p50 ms | p90 ms | p99 ms | max ms | CPU µs/msg |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        args.senders, args.messages, args.db_connections
    );
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    let mut same_size = None;
    for &batch in &args.batch {
        let bench = Bench::start(args, batch).await?;
        let rooms = bench.rooms().await?;
        let Bench {
            server,
            users,
            db,
            _web,
            _dir,
            ..
        } = bench;
        server.signal("TERM").await?;
        let (status, log) = server.wait_exit(Duration::from_secs(60)).await?;
        if !status.success() {
            bail!("the server exited with {status}: {log}");
        }
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(args.db_connections)
            .connect(db.url())
            .await?;
        let mut auth = Vec::with_capacity(users.len());
        for user in &users {
            let row: (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
                "select s.account_id, s.session_id from session s join account a using (account_id)
                 where a.user_id = $1 and s.device_id = $2 and s.ended_at is null",
            )
            .bind(&user.user_id)
            .bind(&user.device_id)
            .fetch_one(&pool)
            .await?;
            auth.push(AuthUser {
                account_id: row.0,
                user_id: user.user_id.clone(),
                device_id: user.device_id.clone(),
                session_id: row.1,
            });
        }
        let service = Rooms::new(pool.clone(), "bench.parley.test", batch, None);
        // One commit per send is the disk's commit rate: fewer messages suffice.
        let messages = if batch == 1 {
            args.messages.min(2000 / args.senders.max(1)).max(1)
        } else {
            args.messages
        };
        // Warm-up, not counted.
        commit_run(&service, &auth, &rooms, args.senders, 5, "cwarm").await?;
        let database = url::Url::parse(db.url())
            .map(|u| u.path().trim_start_matches('/').to_owned())
            .unwrap_or_default();
        let before = cpu_split(0, &database);
        let mut run = commit_run(&service, &auth, &rooms, args.senders, messages, "commit")
            .await?
            .with_cpu(before, cpu_split(0, &database));
        // Only this process and its PostgreSQL backends: the generator is this process.
        run.cpu_us = [run.cpu_us[2], run.cpu_us[1], f64::NAN];
        run.mean_batch = {
            let mean: Option<f64> = sqlx::query_scalar(
                "select count(*)::float8 / nullif(count(distinct origin_server_ts), 0) from event
                 where txn_id like 'commit-%'",
            )
            .fetch_one(&pool)
            .await?;
            mean.unwrap_or(0.0)
        };
        let [mine, pg, _] = run.cpu_us;
        println!(
            "| `Rooms::send`, send_batch_max = {batch} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {mine:.0} / {pg:.0} |",
            run.sends,
            run.mean_batch,
            run.rate,
            run.percentile(0.5),
            run.percentile(0.9),
            run.percentile(0.99),
            run.percentile(1.0)
        );
        ratios.push((batch, run.rate));
        drop(service);
        pool.close().await;
        if batch == args.batch.first().copied().unwrap_or(batch) {
            reference_rows(db.url(), args, &mut rows).await?;
            // PostgreSQL at the batch size the committer reached: what the same commits cost
            // without the checks, the seq and position bookkeeping and the round trips.
            let same = (run.mean_batch.round() as usize).max(1);
            if same != 256 && same != 1 {
                let total = args.senders * args.messages;
                let rate = pg_reference(db.url(), total, same).await?;
                println!(
                    "| PostgreSQL: insert of the same rows, {same} per transaction (the mean batch above) | {total} | {same} | {rate:.0} | | | | | |"
                );
                same_size = Some((same, rate));
            }
        }
    }
    let pg = rows
        .iter()
        .find(|r| r.1 == "pg256")
        .map_or(f64::NAN, |r| r.2);
    println!("\nCommit path, ratio to PostgreSQL's batched insert rate (same database):\n");
    for (batch, rate) in ratios {
        print!(
            "- `Rooms::send`, send_batch_max = {batch}: {:.0}% of 256 rows per transaction",
            100.0 * rate / pg
        );
        match same_size {
            Some((same, same_rate)) if batch != 1 => println!(
                ", {:.0}% of {same} rows per transaction",
                100.0 * rate / same_rate
            ),
            _ => println!(),
        }
    }
    Ok(())
}

/// `senders` tasks, each calling `Rooms::send` `messages` times one after another.
async fn commit_run(
    service: &Rooms,
    users: &[AuthUser],
    rooms: &[String],
    senders: usize,
    messages: usize,
    tag: &str,
) -> anyhow::Result<Measured> {
    let service = Arc::new(service.clone());
    timed_sends(
        users,
        rooms,
        senders,
        messages,
        tag,
        move |user, room, s, i, txn| {
            let service = Arc::clone(&service);
            async move {
                let outcome = service
                    .send(&user, &room, "parley.message", &txn, content(s, i))
                    .await
                    .map_err(|e| anyhow::anyhow!("send: {e}"))?;
                anyhow::ensure!(matches!(outcome, SendOutcome::Stored(_)), "send not stored");
                Ok(())
            }
        },
    )
    .await
}

/// Rows per second PostgreSQL inserts into a copy of `event` (same columns, constraints,
/// indexes and foreign key) on the same database, `per_commit` rows per transaction, from one
/// connection.
async fn pg_reference(url: &str, rows: usize, per_commit: usize) -> anyhow::Result<f64> {
    let mut db = PgConnection::connect(url).await?;
    // `like` copies columns, defaults, checks, unique keys and indexes but not the foreign
    // key to `room`, whose check costs every inserted row: add it.
    sqlx::raw_sql(
        "drop table if exists bench_event;
         create table bench_event (like event including all);
         alter table bench_event add foreign key (room_id) references room (room_id);
         insert into room (room_id, kind, name, creator)
             values ('!room:bench', 'group', 'bench', '@bench:bench')
             on conflict do nothing",
    )
    .execute(&mut db)
    .await?;
    let started = Instant::now();
    let mut done = 0;
    while done < rows {
        let n = per_commit.min(rows - done);
        let range = done..done + n;
        let ids: Vec<String> = range.clone().map(|i| format!("$bench{i}")).collect();
        let seqs: Vec<i64> = range.clone().map(|i| i as i64 + 1).collect();
        let senders: Vec<String> = range
            .clone()
            .map(|i| format!("@u{}:bench", i % 64))
            .collect();
        let txns: Vec<String> = range.clone().map(|i| format!("t{i}")).collect();
        let contents: Vec<String> = range.map(|i| content(i % 64, i).to_string()).collect();
        let mut tx = db.begin().await?;
        sqlx::query(
            "insert into bench_event (event_id, room_id, seq, stream_pos, sender, device_id,
                                      txn_id, type, content)
             select e.id, '!room:bench', e.seq, e.seq, e.sender, 'DEVICE', e.txn,
                    'parley.message', e.content::jsonb
             from unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[])
                  as e(id, seq, sender, txn, content)",
        )
        .bind(&ids)
        .bind(&seqs)
        .bind(&senders)
        .bind(&txns)
        .bind(&contents)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done += n;
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    sqlx::raw_sql("drop table bench_event")
        .execute(&mut db)
        .await?;
    Ok(rate)
}

/// Opens `count` idle WebSockets and reports the server's resident memory per connection.
async fn idle_run(bench: &Bench, count: usize) -> anyhow::Result<()> {
    let pid = bench.server.pid()?;
    let users = Arc::new(bench.users.clone());
    // Warm-up: the first connections grow pools and caches that later ones reuse.
    let warm = open_sockets(&users, 100).await?;
    for socket in warm {
        socket.close().await;
    }
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let sockets = open_sockets(&users, count).await?;
    let opened = started.elapsed();
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / count as f64;
    println!(
        "{count} idle connections ({} users), opened in {:.1} s: server RSS {} KiB before, {} \
         KiB after: **{:.1} KiB per connection** ({per:.0} bytes).",
        users.len(),
        opened.as_secs_f64(),
        before,
        after,
        per / 1024.0
    );
    for socket in sockets {
        socket.close().await;
    }
    Ok(())
}

/// Opens `count` WebSockets spread over `users`, each past its `live` frame.
async fn open_sockets(users: &Arc<Vec<TestUser>>, count: usize) -> anyhow::Result<Vec<TestSocket>> {
    let mut sockets = Vec::with_capacity(count);
    // A few at a time: the server's sign-in checks and presence rows are not what is measured.
    for chunk_start in (0..count).step_by(50) {
        let mut tasks = Vec::new();
        for i in chunk_start..(chunk_start + 50).min(count) {
            let users = Arc::clone(users);
            tasks.push(tokio::spawn(async move {
                let user = users.get(i % users.len()).context("no users")?;
                let mut socket = TestSocket::connect(user, None, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("connect: {e:?}"))?;
                // Frames sent on connecting (key counts, presence) may come first.
                for _ in 0..16 {
                    let frame = socket
                        .next(Duration::from_secs(30))
                        .await
                        .map_err(|e| anyhow::anyhow!("live: {e:?}"))?;
                    if frame["type"] == "live" {
                        return Ok(socket);
                    }
                }
                anyhow::bail!("no live frame")
            }));
        }
        for task in tasks {
            sockets.push(task.await??);
        }
    }
    Ok(sockets)
}

/// CPU seconds (user + system) used so far by a process.
fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15. Linux reports them in ticks of 1/100 s.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used so far by the server, by the PostgreSQL backends serving `database`, and
/// by this process.
fn cpu_split(server_pid: u32, database: &str) -> [f64; 3] {
    let mut pg = 0.0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read_to_string(entry.path().join("cmdline")).unwrap_or_default();
            if cmdline.starts_with("postgres:") && cmdline.contains(database) {
                pg += cpu_secs(&pid);
            }
        }
    }
    [cpu_secs(&server_pid.to_string()), pg, cpu_secs("self")]
}

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// The CPU, core count and memory of this machine.
fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(Path::new(p)).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    format!("Machine: {cpu}, {cores} cores, {mem} memory; client, server and PostgreSQL share it.")
}
