//! The world metasim's traffic happens in: the Meta app, the businesses' channels (Pages,
//! Instagram accounts, WhatsApp numbers) and the end users who write to them. A relay under
//! test connects the same channels, so every id here is one a test can route on.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt;

/// The three Meta messaging products, by the `object` of their webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    /// Facebook Messenger (`object: "page"`).
    Messenger,
    /// Instagram messaging (`object: "instagram"`).
    Instagram,
    /// WhatsApp Cloud API (`object: "whatsapp_business_account"`).
    WhatsApp,
}

impl Platform {
    /// All three, in a fixed order.
    pub const ALL: [Platform; 3] = [Platform::Messenger, Platform::Instagram, Platform::WhatsApp];

    /// The webhook envelope's `object`.
    pub fn object(self) -> &'static str {
        match self {
            Platform::Messenger => "page",
            Platform::Instagram => "instagram",
            Platform::WhatsApp => "whatsapp_business_account",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Messenger => "messenger",
            Platform::Instagram => "instagram",
            Platform::WhatsApp => "whatsapp",
        })
    }
}

/// A business's channel as Meta identifies it in webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A Facebook Page; `entry[].id` and the recipient of inbound messages.
    Messenger { page_id: String },
    /// An Instagram professional account; `entry[].id` and the recipient of inbound messages.
    Instagram { ig_id: String },
    /// A WhatsApp business phone number. Webhooks carry the WABA id in `entry[].id` and
    /// the number in `value.metadata`.
    WhatsApp {
        waba_id: String,
        phone_number_id: String,
        display_phone_number: String,
    },
}

impl Channel {
    /// Which product the channel belongs to.
    pub fn platform(&self) -> Platform {
        match self {
            Channel::Messenger { .. } => Platform::Messenger,
            Channel::Instagram { .. } => Platform::Instagram,
            Channel::WhatsApp { .. } => Platform::WhatsApp,
        }
    }

    /// The id a relay routes on: the Page id, the IG account id or the phone number id.
    pub fn external_id(&self) -> &str {
        match self {
            Channel::Messenger { page_id } => page_id,
            Channel::Instagram { ig_id } => ig_id,
            Channel::WhatsApp {
                phone_number_id, ..
            } => phone_number_id,
        }
    }

    /// The id Meta puts in `entry[].id`: the Page id, the IG account id or the WABA id.
    pub fn entry_id(&self) -> &str {
        match self {
            Channel::Messenger { page_id } => page_id,
            Channel::Instagram { ig_id } => ig_id,
            Channel::WhatsApp { waba_id, .. } => waba_id,
        }
    }
}

/// The language a contact writes in; it picks their texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    English,
    Spanish,
}

/// An end user as one channel sees them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Contact {
    /// The PSID (Messenger), IGSID (Instagram) or `wa_id` (WhatsApp). Scoped to the
    /// channel: the same person has a different PSID on each Page.
    pub id: String,
    /// The name Meta shows: WhatsApp's `profile.name`; for Messenger and Instagram, the
    /// name a profile lookup would return (webhooks do not carry it).
    pub name: String,
    /// WhatsApp's business-scoped user id (`user_id`, e.g. `US.1349…`), for users in the
    /// 2026 username rollout; `None` elsewhere.
    pub bsuid: Option<String>,
    /// The language the contact writes in.
    pub lang: Lang,
}

impl Contact {
    /// A contact with just an id (a test's stranger, say), writing English.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Contact {
            name: format!("User {id}"),
            id,
            bsuid: None,
            lang: Lang::English,
        }
    }
}

/// One channel and the people who write to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub channel: Channel,
    /// The Page's name, the IG username or the WhatsApp business's verified name.
    pub name: String,
    pub contacts: Vec<Contact>,
}

/// A channel and one of its contacts: where an event happens. Build one from the
/// [`Universe`], or by hand for ids the relay does not know.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conversation {
    pub channel: Channel,
    pub contact: Contact,
}

impl Conversation {
    pub fn new(channel: Channel, contact: Contact) -> Self {
        Conversation { channel, contact }
    }

    pub fn platform(&self) -> Platform {
        self.channel.platform()
    }
}

/// The Meta app and every channel and contact metasim simulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Universe {
    /// The Meta app id: the `{app_id}` of the webhook URL and `app_id` of echoes.
    pub app_id: u64,
    /// Where attachment URLs point (`{media_base_url}/v/…`). A fake host by default so
    /// nothing ever fetches from Meta's CDN; point it at metasim's own server to serve
    /// the media.
    pub media_base_url: String,
    pub channels: Vec<ChannelInfo>,
}

/// The app id of the fixtures (`messenger_events_batch.json`).
pub const DEMO_APP_ID: u64 = 1_111_111_111_111_111;

/// The fake host of the fixtures' attachment URLs.
pub const DEMO_MEDIA_BASE_URL: &str = "https://example.invalid/fake-cdn";

impl Universe {
    /// A universe with the given channels.
    pub fn new(app_id: u64, channels: Vec<ChannelInfo>) -> Self {
        Universe {
            app_id,
            media_base_url: DEMO_MEDIA_BASE_URL.to_owned(),
            channels,
        }
    }

    /// A small, realistic universe, the same for the same seed: two businesses (one
    /// writing English, one Spanish), each on Messenger, Instagram and WhatsApp, with a
    /// second WhatsApp number on the first business's WABA; eight contacts per channel.
    pub fn demo(seed: u64) -> Self {
        Self::demo_sized(seed, 8)
    }

    /// [`Universe::demo`] with `contacts_per_channel` contacts on every channel.
    pub fn demo_sized(seed: u64, contacts_per_channel: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x756e_6976_6572_7365);
        let mut ids = DigitIds::default();
        let mut channels = Vec::new();
        let businesses = [
            (
                "Northwind Outdoor Gear",
                "northwind.gear",
                Lang::English,
                "1555",
            ),
            ("Tienda Solé", "tiendasole.mx", Lang::Spanish, "5255"),
        ];
        for (name, handle, lang, phone_prefix) in businesses {
            let page_id = ids.next(&mut rng, "1000", 15);
            channels.push(ChannelInfo {
                channel: Channel::Messenger { page_id },
                name: name.to_owned(),
                contacts: contacts(
                    &mut rng,
                    &mut ids,
                    Platform::Messenger,
                    lang,
                    contacts_per_channel,
                ),
            });
            let ig_id = ids.next(&mut rng, "178414", 17);
            channels.push(ChannelInfo {
                channel: Channel::Instagram { ig_id },
                name: handle.to_owned(),
                contacts: contacts(
                    &mut rng,
                    &mut ids,
                    Platform::Instagram,
                    lang,
                    contacts_per_channel,
                ),
            });
            let waba_id = ids.next(&mut rng, "1029", 15);
            let numbers = if lang == Lang::English { 2 } else { 1 };
            for _ in 0..numbers {
                channels.push(ChannelInfo {
                    channel: Channel::WhatsApp {
                        waba_id: waba_id.clone(),
                        phone_number_id: ids.next(&mut rng, "1063", 15),
                        display_phone_number: ids.next(
                            &mut rng,
                            phone_prefix,
                            11 + usize::from(lang == Lang::Spanish),
                        ),
                    },
                    name: name.to_owned(),
                    contacts: contacts(
                        &mut rng,
                        &mut ids,
                        Platform::WhatsApp,
                        lang,
                        contacts_per_channel,
                    ),
                });
            }
        }
        Universe::new(DEMO_APP_ID, channels)
    }

    /// The channels of one platform, in order.
    pub fn channels_of(&self, platform: Platform) -> impl Iterator<Item = &ChannelInfo> {
        self.channels
            .iter()
            .filter(move |c| c.channel.platform() == platform)
    }

    /// The `contact`-th contact of the `channel`-th channel of `platform`, if there is one.
    pub fn conversation(
        &self,
        platform: Platform,
        channel: usize,
        contact: usize,
    ) -> Option<Conversation> {
        let info = self.channels_of(platform).nth(channel)?;
        let contact = info.contacts.get(contact)?;
        Some(Conversation::new(info.channel.clone(), contact.clone()))
    }

    /// Every conversation of `platform`.
    pub fn conversations(&self, platform: Platform) -> impl Iterator<Item = Conversation> + '_ {
        self.channels_of(platform).flat_map(|info| {
            info.contacts
                .iter()
                .map(|c| Conversation::new(info.channel.clone(), c.clone()))
        })
    }

    /// The channel with this external id (Page id, IG account id or phone number id).
    pub fn channel(&self, external_id: &str) -> Option<&ChannelInfo> {
        self.channels
            .iter()
            .find(|c| c.channel.external_id() == external_id)
    }
}

/// Numeric ids (Page ids, PSIDs, phone numbers) that never repeat within one universe.
#[derive(Default)]
struct DigitIds {
    seen: std::collections::BTreeSet<String>,
}

impl DigitIds {
    /// `prefix` followed by random digits, `len` digits in all (one more each time a
    /// length runs out of fresh ids, so that this always ends).
    fn next(&mut self, rng: &mut StdRng, prefix: &str, len: usize) -> String {
        let mut len = len;
        loop {
            for _ in 0..64 {
                let mut id = prefix.to_owned();
                while id.len() < len {
                    id.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
                if self.seen.insert(id.clone()) {
                    return id;
                }
            }
            len += 1;
        }
    }
}

fn contacts(
    rng: &mut StdRng,
    ids: &mut DigitIds,
    platform: Platform,
    lang: Lang,
    count: usize,
) -> Vec<Contact> {
    (0..count)
        .map(|i| {
            // Most contacts write in the business's language; some write in the other.
            let lang = if i % 4 == 3 {
                match lang {
                    Lang::English => Lang::Spanish,
                    Lang::Spanish => Lang::English,
                }
            } else {
                lang
            };
            let name = crate::content::person_name(rng, lang);
            let (id, bsuid) = match platform {
                Platform::Messenger => (ids.next(rng, "2", 16), None),
                Platform::Instagram => (ids.next(rng, "1", 16), None),
                Platform::WhatsApp => {
                    let (prefix, len, country) = match lang {
                        Lang::English => ("1555", 11, "US"),
                        Lang::Spanish if i % 2 == 0 => ("521", 13, "MX"),
                        Lang::Spanish => ("346", 11, "ES"),
                    };
                    let wa_id = ids.next(rng, prefix, len);
                    // Business-scoped user ids are rolling out in 2026: some users have one.
                    let bsuid =
                        (i % 3 == 1).then(|| format!("{country}.{}", ids.next(rng, "1", 20)));
                    (wa_id, bsuid)
                }
            };
            Contact {
                id,
                name,
                bsuid,
                lang,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_universe_is_reproducible_and_has_every_platform() {
        let a = Universe::demo(7);
        assert_eq!(a, Universe::demo(7));
        assert_ne!(a, Universe::demo(8));
        for platform in Platform::ALL {
            assert!(a.channels_of(platform).count() >= 2, "{platform}");
            assert!(a.conversation(platform, 1, 7).is_some());
        }
        let wabas: Vec<_> = a
            .channels_of(Platform::WhatsApp)
            .map(|c| c.channel.entry_id().to_owned())
            .collect();
        assert_eq!(wabas[0], wabas[1], "the first WABA has two numbers");
    }

    #[test]
    fn ids_are_unique_across_the_universe() {
        let u = Universe::demo_sized(1, 50);
        let mut seen = std::collections::HashSet::new();
        for info in &u.channels {
            assert!(seen.insert(info.channel.external_id().to_owned()));
            for c in &info.contacts {
                assert!(seen.insert(c.id.clone()), "{} repeats", c.id);
            }
        }
    }
}
