//! RedisQueue against a real `redis-server` started on a loopback port of its own:
//! exact counts, redelivery after a killed consumer, a restart mid-run, malformed
//! entries, refused connections, shutdown and bounds. Nothing is mocked.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use heddle_redis::server::RedisServer;
use heddle_redis::{Options, RedisError, RedisQueue};

fn quick(visibility_ms: u64) -> Options {
    Options {
        visibility_timeout: Duration::from_millis(visibility_ms),
        ..Options::default()
    }
}

/// 3 producers × 400 items, 4 consumers (each its own handle, as separate machines
/// would have; each way of taking and marking done): every item taken and done exactly
/// once, join returns, nothing left.
#[test]
fn several_consumers_take_every_item_exactly_once() {
    let server = RedisServer::start().unwrap();
    let url = server.url();
    const PRODUCERS: u32 = 3;
    const ITEMS: u32 = 400;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = RedisQueue::<(u32, u32)>::connect(&url, "exact").unwrap();
            std::thread::spawn(move || {
                // Half one by one, half batched: both paths.
                for i in 0..ITEMS / 2 {
                    q.put((p, i)).unwrap();
                }
                q.put_many((ITEMS / 2..ITEMS).map(|i| (p, i))).unwrap();
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|c| {
            let q = RedisQueue::<(u32, u32)>::connect(&url, "exact").unwrap();
            std::thread::spawn(move || {
                // Consumer 0 takes one by one, 1 in batches, 2 and 3 mark each batch
                // done in the same round trip as they take the next.
                let mut seen = Vec::new();
                let mut carried = Vec::new();
                loop {
                    let batch = if !carried.is_empty() {
                        Ok(std::mem::take(&mut carried))
                    } else if c == 0 {
                        q.get().map(|i| vec![i])
                    } else {
                        q.get_many(7, None)
                    };
                    let Ok(batch) = batch else { break };
                    for item in &batch {
                        assert_eq!(item.deliveries(), 1);
                        seen.push(**item);
                    }
                    if c >= 2 {
                        let (finished, next) = q.task_done_and_try_get_many(&batch, 7).unwrap();
                        assert_eq!(finished, batch.len());
                        carried = next;
                    } else {
                        assert_eq!(q.task_done_many(&batch).unwrap(), batch.len());
                    }
                }
                seen
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let q = RedisQueue::<(u32, u32)>::connect(&url, "exact").unwrap();
    q.join().unwrap();
    q.shutdown(false).unwrap();
    let mut counts: HashMap<(u32, u32), u32> = HashMap::new();
    for c in consumers {
        for item in c.join().unwrap() {
            *counts.entry(item).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), (PRODUCERS * ITEMS) as usize);
    assert!(counts.values().all(|&n| n == 1), "an item was taken twice");
    assert_eq!((q.qsize().unwrap(), q.unfinished().unwrap()), (0, 0));
    assert!(q.dead_letters().unwrap().is_empty());
}

/// The child half of `killed_consumer_item_is_redelivered`: take one item, say which,
/// then hang until killed. Does nothing unless the parent set the variable.
#[test]
#[ignore = "run as a child process by killed_consumer_item_is_redelivered"]
fn child_takes_one_and_hangs() {
    let Ok(url) = std::env::var("HEDDLE_REDIS_CHILD_URL") else {
        return;
    };
    let q = RedisQueue::<u32>::with_options(&url, "killed", quick(300)).unwrap();
    let item = q.get().unwrap();
    println!("took {}", *item);
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A consumer process takes an item and is killed with SIGKILL before marking it
/// done: after the visibility timeout another consumer gets it (second delivery),
/// finishes it, and join returns.
#[test]
fn killed_consumer_item_is_redelivered() {
    let server = RedisServer::start().unwrap();
    let q = RedisQueue::<u32>::with_options(&server.url(), "killed", quick(300)).unwrap();
    q.put(42).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_takes_one_and_hangs",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HEDDLE_REDIS_CHILD_URL", server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let took = loop {
        let line = lines
            .next()
            .expect("the child exited before taking")
            .unwrap();
        // libtest prints the test's name on the same line, before our output.
        if let Some((_, rest)) = line.split_once("took ") {
            break rest.to_string();
        }
    };
    assert_eq!(took, "42");
    assert_eq!((q.qsize().unwrap(), q.unfinished().unwrap()), (0, 1));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let item = q.get_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((*item, item.deliveries()), (42, 2));
    assert!(q.task_done(&item).unwrap());
    q.join_timeout(Duration::from_secs(5)).unwrap();
}

/// A consumer that hangs past the visibility timeout loses its item to another;
/// its late task_done finds the item already finished.
#[test]
fn hung_consumer_item_goes_to_another() {
    let server = RedisServer::start().unwrap();
    let slow = RedisQueue::<u32>::with_options(&server.url(), "hung", quick(100)).unwrap();
    let fast = RedisQueue::<u32>::with_options(&server.url(), "hung", quick(100)).unwrap();
    slow.put(7).unwrap();
    let first = slow.get().unwrap();
    assert_eq!(first.deliveries(), 1);
    let second = fast.get_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((*second, second.deliveries()), (7, 2));
    assert_eq!(second.id(), first.id());
    assert!(fast.task_done(&second).unwrap());
    assert!(!slow.task_done(&first).unwrap());
    slow.join_timeout(Duration::from_secs(5)).unwrap();
}

/// A batch marked done at once that mixes a stale item (finished meanwhile by the
/// consumer it was redelivered to) with live ones: only the live ones count, each
/// leaves the queue, and an item still waiting is not touched.
#[test]
fn task_done_many_counts_only_what_it_finished() {
    let server = RedisServer::start().unwrap();
    let slow = RedisQueue::<u32>::with_options(&server.url(), "mixed", quick(100)).unwrap();
    let fast = RedisQueue::<u32>::with_options(&server.url(), "mixed", quick(100)).unwrap();
    slow.put(1).unwrap();
    let stale = slow.get().unwrap();
    let retaken = fast.get_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(retaken.id(), stale.id());
    assert!(fast.task_done(&retaken).unwrap());
    slow.put_many([2, 3, 4]).unwrap();
    let live = slow.get_many(2, None).unwrap();
    assert_eq!(live.iter().map(|d| **d).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(
        slow.task_done_many([&stale, &live[0], &live[1]]).unwrap(),
        2
    );
    assert_eq!(slow.task_done_many(&live).unwrap(), 0, "already done");
    assert_eq!(slow.unfinished().unwrap(), 1, "item 4 still waits");
    let last = fast.get().unwrap();
    assert_eq!(*last, 4);
    assert!(fast.task_done(&last).unwrap());
    slow.join_timeout(Duration::from_secs(5)).unwrap();
}

/// The combined call with nothing to mark done only takes; on an empty queue it takes
/// nothing and does not wait; after a server restart (scripts forgotten) it still
/// acknowledges, since its script travels whole.
#[test]
fn task_done_and_try_get_many_edges() {
    let mut server = RedisServer::start().unwrap();
    let q = RedisQueue::<u32>::connect(&server.url(), "edges").unwrap();
    assert_eq!(q.task_done_and_try_get_many(&[], 4).unwrap().1.len(), 0);
    q.put_many([1, 2]).unwrap();
    let (finished, taken) = q.task_done_and_try_get_many(&[], 4).unwrap();
    assert_eq!(
        (finished, taken.iter().map(|d| **d).collect::<Vec<_>>()),
        (0, vec![1, 2])
    );
    server.restart().unwrap();
    // The first call after a restart finds the connection gone: a read reconnects
    // (a put would be Unconfirmed, its reply lost).
    assert_eq!(q.qsize().unwrap(), 0);
    q.put(3).unwrap();
    let (finished, taken) = q.task_done_and_try_get_many(&taken, 4).unwrap();
    assert_eq!(
        finished, 0,
        "a server without persistence forgot the pending items"
    );
    assert_eq!(taken.iter().map(|d| **d).collect::<Vec<_>>(), [3]);
    assert_eq!(q.task_done_and_try_get_many(&taken, 4).unwrap().0, 1);
    q.join_timeout(Duration::from_secs(5)).unwrap();
}

/// An item never marked done is handed out max_deliveries times, then dead-lettered
/// with the reason; join then returns.
#[test]
fn dead_letter_after_max_deliveries() {
    let server = RedisServer::start().unwrap();
    let options = Options {
        max_deliveries: 3,
        ..quick(50)
    };
    let q = RedisQueue::<u32>::with_options(&server.url(), "poison", options).unwrap();
    q.put(13).unwrap();
    let mut deliveries = Vec::new();
    loop {
        match q.get_timeout(Duration::from_millis(500)) {
            Ok(item) => deliveries.push(item.deliveries()), // never marked done
            Err(RedisError::TimedOut) if q.unfinished().unwrap() == 0 => break,
            Err(RedisError::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(deliveries, [1, 2, 3]);
    let dead = q.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].deliveries, 3);
    assert!(
        dead[0].reason.contains("never marked done"),
        "{}",
        dead[0].reason
    );
    assert_eq!(
        dead[0].payload.as_deref(),
        Some(&postcard::to_stdvec(&13u32).unwrap()[..])
    );
    q.join_timeout(Duration::from_secs(1)).unwrap();
}

/// Entries another program wrote (no payload field, or bytes that are not a `T`)
/// are dead-lettered with the reason, never a panic, and the items around them
/// are delivered.
#[test]
fn malformed_entries_are_dead_lettered() {
    let server = RedisServer::start().unwrap();
    let q = RedisQueue::<String>::connect(&server.url(), "bad").unwrap();
    q.put("before".to_string()).unwrap();
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let stream = "heddle:{bad}:stream";
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("other")
        .arg("x")
        .query(&mut raw)
        .unwrap();
    // A length prefix far longer than the bytes that follow: not a String.
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("d")
        .arg(&[0xff_u8, 0xff, 0x01][..])
        .query(&mut raw)
        .unwrap();
    q.put("after".to_string()).unwrap();
    let a = q.get().unwrap();
    let b = q.get().unwrap();
    assert_eq!(
        (a.value().as_str(), b.value().as_str()),
        ("before", "after")
    );
    q.task_done_many([&a, &b]).unwrap();
    q.join_timeout(Duration::from_secs(5)).unwrap();
    let dead = q.dead_letters().unwrap();
    assert_eq!(dead.len(), 2);
    assert!(
        dead[0].reason.contains("no field 'd'"),
        "{}",
        dead[0].reason
    );
    assert!(
        dead[1].reason.contains("not a postcard-encoded"),
        "{}",
        dead[1].reason
    );
}

/// Nothing listens: a typed error at start that names the URL.
#[test]
fn refused_connection_names_the_url() {
    let server = RedisServer::start().unwrap();
    let url = server.url();
    drop(server);
    let err = RedisQueue::<u8>::connect(&url, "none").unwrap_err();
    match &err {
        RedisError::Connect { url: shown, .. } => assert_eq!(shown, &url),
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(err.to_string().contains(&url));
    let bad = RedisQueue::<u8>::connect("not a url", "none").unwrap_err();
    assert!(matches!(bad, RedisError::Connect { .. }), "{bad:?}");
}

/// The server is killed and restarted (append-only file, synced on every write) while
/// consumers work: they reconnect with back-off; every put that was confirmed is
/// delivered and finished; an unconfirmed put is reported, never silent.
#[test]
fn restart_mid_run_loses_nothing_confirmed() {
    let mut server = RedisServer::start_with_aof().unwrap();
    let url = server.url();
    let options = Options {
        reconnect_window: Duration::from_secs(20),
        ..quick(500)
    };
    let producer = RedisQueue::<u32>::with_options(&url, "restart", options.clone()).unwrap();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = RedisQueue::<u32>::with_options(&url, "restart", options.clone()).unwrap();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                loop {
                    match q.get() {
                        Ok(item) => {
                            q.task_done(&item).unwrap();
                            seen.push(*item);
                        }
                        Err(RedisError::ShutDown) => return seen,
                        Err(e) => panic!("consumer: {e}"),
                    }
                }
            })
        })
        .collect();
    let mut confirmed = Vec::new();
    let mut unconfirmed = Vec::new();
    for i in 0..600u32 {
        if i == 300 {
            server.restart().unwrap();
        }
        match producer.put(i) {
            Ok(()) => confirmed.push(i),
            Err(RedisError::Unconfirmed { .. }) => unconfirmed.push(i),
            Err(e) => panic!("put {i}: {e}"),
        }
    }
    assert!(unconfirmed.len() <= 1, "{unconfirmed:?}");
    producer.join_timeout(Duration::from_secs(30)).unwrap();
    producer.shutdown(false).unwrap();
    let mut seen: Vec<u32> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    seen.sort_unstable();
    // At least once: a done whose reply was lost in the restart may be redone.
    seen.dedup();
    let mut expected = confirmed.clone();
    expected.extend(unconfirmed.iter().filter(|u| seen.contains(u)));
    expected.sort_unstable();
    assert_eq!(seen, expected);
}

/// Shutdown as Python 3.13's: graceful lets gets drain, then fail; immediate drops
/// what was not taken, and join still waits for what was taken.
#[test]
fn shutdown_graceful_then_immediate() {
    let server = RedisServer::start().unwrap();
    let q = RedisQueue::<u32>::connect(&server.url(), "shut").unwrap();
    q.put_many(0..5).unwrap();
    let taken = q.get().unwrap();
    assert_eq!(q.shutdown(false).unwrap(), 0);
    assert_eq!(q.put(9), Err(RedisError::ShutDown));
    let next = q.get().unwrap();
    assert_eq!(*next, 1);
    assert_eq!(q.shutdown(true).unwrap(), 3);
    assert_eq!(q.try_get().unwrap_err(), RedisError::ShutDown);
    assert_eq!(q.unfinished().unwrap(), 2);
    assert_eq!(
        q.join_timeout(Duration::from_millis(20)),
        Err(RedisError::TimedOut)
    );
    q.task_done_many([&taken, &next]).unwrap();
    q.join().unwrap();
}

/// A bounded queue: put waits while maxsize items wait to be taken (taken ones do
/// not count), and every item put gets through a slow consumer.
#[test]
fn bounded_put_waits_for_room() {
    let server = RedisServer::start().unwrap();
    let options = Options {
        maxsize: 3,
        ..Options::default()
    };
    let q = Arc::new(RedisQueue::<u32>::with_options(&server.url(), "bounded", options).unwrap());
    q.put_many(0..3).unwrap();
    assert_eq!(q.try_put(3), Err(RedisError::Full));
    let first = q.get().unwrap();
    q.try_put(3).unwrap(); // a taken item frees its place
    let producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            for i in 4..40 {
                q.put(i).unwrap();
                assert!(q.qsize().unwrap() <= 3);
            }
        })
    };
    let mut seen = vec![*first];
    q.task_done(&first).unwrap();
    while seen.len() < 40 {
        let item = q.get().unwrap();
        seen.push(*item);
        q.task_done(&item).unwrap();
    }
    producer.join().unwrap();
    assert_eq!(seen, (0..40).collect::<Vec<_>>());
    q.join().unwrap();
}
