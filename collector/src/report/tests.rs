//! The aggregate and the page over any messages: whatever a stream holds (extreme
//! numbers, hostile names, frames in any order, several boards), nothing panics, the
//! aggregate's exits add up to the tally's records, and no name becomes markup.

use proptest::prelude::*;
use taskwire_core::wire::testutil::{self, frame};

use super::aggregate::Aggregate;
use super::page::{Input, render};
use crate::render::Format;
use crate::session::{Decoder, Session};

fn page_of(messages: &[taskwire_core::wire::Message]) -> (String, Vec<(String, u64)>, u64) {
    let mut d = Decoder::new(Format::Text);
    d.observer = Some(Box::new(Aggregate::new()));
    let mut s = Session::new("file");
    let mut bytes = vec![0u8];
    for m in messages {
        bytes.extend(frame(m));
    }
    d.feed(&mut s, &bytes);
    d.close(&mut s);
    let agg = d
        .observer
        .take()
        .and_then(|o| o.into_any().downcast::<Aggregate>().ok())
        .unwrap_or_default();
    let summed: Vec<(String, u64)> = agg
        .boards()
        .iter()
        .map(|b| (b.label.clone(), b.timeline.total().exits + b.untimed.exits))
        .collect();
    let html = render(&Input {
        source: "file:<x>.twr",
        tally: &d.tally,
        aggregate: &agg,
        cut_short: false,
    });
    (html, summed, d.tally.total().records())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_messages_make_a_page(messages in prop::collection::vec(testutil::message(), 0..60)) {
        let (html, summed, _) = page_of(&messages);
        let counts: std::collections::HashMap<String, u64> = {
            let mut d = Decoder::new(Format::Text);
            let mut s = Session::new("file");
            let mut bytes = vec![0u8];
            for m in &messages {
                bytes.extend(frame(m));
            }
            d.feed(&mut s, &bytes);
            d.tally.boards().map(|(l, c)| (l.to_owned(), c.records())).collect()
        };
        for (label, exits) in summed {
            prop_assert_eq!(Some(&exits), counts.get(&label), "{}", label);
        }
        prop_assert_eq!(html.matches("<script").count(), 1);
        prop_assert!(html.ends_with("</html>\n"));
    }
}

#[test]
fn extreme_numbers_make_a_page() {
    use taskwire_core::taskstats::{Field, Value};
    use taskwire_core::wire::{Kind, Message, Profile, Record};
    let mut ms = vec![testutil::named_header("x")];
    for (seq, v) in [(0, u64::MAX), (1, 0), (u64::MAX - 1, 1 << 63)] {
        ms.push(Message::Record(Record::build(
            seq,
            Kind::Pid,
            1,
            Profile::Full,
            Some(b"<b>"),
            |f| match f {
                Field::AcBtime64 | Field::AcEtime | Field::AcExitcode => Some(Value::Unsigned(v)),
                _ => Some(Value::Unsigned(v / 3)),
            },
        )));
    }
    ms.push(testutil::small_sample(7, u64::MAX, 1));
    ms.push(testutil::small_sample(8, 0, 1));
    let (html, summed, records) = page_of(&ms);
    assert_eq!(summed, [("x".to_owned(), 3)]);
    assert_eq!(records, 3);
    assert!(html.contains("&lt;b&gt;"));
    assert!(!html.contains("<b>&lt;"));
}
