//! What simulated customers write and send: support texts in English and Spanish (with
//! accents, emoji beyond the BMP, and the characters Meta escapes: `/ @ % <`), names,
//! button titles, places. Some texts carry the keywords a relay escalates or opts out on
//! ("human", "humano", "agente", "STOP").

use crate::universe::Lang;
use rand::Rng;
use rand::rngs::StdRng;

/// Texts a customer sends to a support inbox, in English.
pub const TEXTS_EN: &[&str] = &[
    "Hi, my order #1234 hasn't arrived yet",
    "Do you ship to Canada?",
    "Hello, is the store open today?",
    "I was charged twice for the same order 😕",
    "Can I talk to a human please?",
    "I need a human, the bot isn't helping",
    "Where is my package? Tracking says delivered on 10/12 but nothing here 📦",
    "The zipper broke after two days. Can I get a refund?",
    "My email is jane.doe@example.com, please send the invoice there",
    "Is the 20% discount still valid?",
    "Thanks so much!! 🙏🙏",
    "ok",
    "👍",
    "Can you check order 88-1045/B? It says <pending> since Monday",
    "What sizes do you have for the trail jacket?",
    "I'd like to return these boots, they're too small",
    "STOP",
    "Please stop messaging me",
    "Is anyone there? I've been waiting for an hour",
    "Love the new collection ❤️ do you restock the green one?",
    "The café pickup point is closed — can I change the address?",
    "Can I pay with PayPal / Apple Pay?",
    "Hello??",
    "My name is Zoë Müller, order placed on 3/14",
    "The app crashes when I open my cart 🤦‍♀️",
    "You sent me the wrong colour, I ordered blue 🔵 not black",
    "Agent please",
    "Do you have the tent in S & M sizes?",
    "Can I speak to a real person?",
];

/// Texts a customer sends to a support inbox, in Spanish.
pub const TEXTS_ES: &[&str] = &[
    "Hola, mi pedido #5678 todavía no ha llegado",
    "¿Hacen envíos a Canarias?",
    "Buenos días, ¿está abierta la tienda hoy?",
    "Me cobraron dos veces el mismo pedido 😡",
    "Quiero hablar con un humano por favor",
    "¿Me pasas con un agente?",
    "Necesito un agente, el bot no me entiende",
    "¿Dónde está mi paquete? 📦 Dice entregado el 12/10 pero no llegó nada",
    "La cremallera se rompió a los dos días. ¿Me devuelven el dinero?",
    "Mi correo es maria.nunez@example.com, mándenme la factura ahí",
    "¿Sigue vigente el 15% de descuento?",
    "¡Muchas gracias! 🙏😊",
    "vale",
    "👌",
    "¿Pueden revisar el pedido 77-3301/A? Sigue en <pendiente> desde el lunes",
    "¿Qué tallas tienen de la chaqueta?",
    "Quiero devolver estas botas, me quedan pequeñas",
    "STOP",
    "BAJA",
    "¿Hay alguien? Llevo una hora esperando",
    "Me encanta la nueva colección ❤️ ¿reponen la verde?",
    "El punto de recogida está cerrado, ¿puedo cambiar la dirección?",
    "¿Puedo pagar con tarjeta / Bizum?",
    "¿¿Hola??",
    "Me llamo José Ángel Núñez, hice el pedido el 14/3",
    "La app se cierra cuando abro el carrito 🤦🏽‍♂️",
    "Me mandaron el color equivocado, pedí azul 🔵 no negro",
    "Señor, ¿cuánto tarda el envío a Mérida? 🇲🇽",
];

/// What the business's agents and bots reply (the text of echoes).
const REPLIES_EN: &[&str] = &[
    "Sorry about that! Let me check with the courier.",
    "Yes we do!",
    "Hi! Thanks for reaching out 😊 How can we help?",
    "Your order ships Monday. Tracking: https://example.invalid/track/88-1045",
    "I've refunded the duplicate charge; it takes 3-5 business days.",
    "Could you send a photo of the label, please?",
    "You're welcome! Anything else?",
];
const REPLIES_ES: &[&str] = &[
    "¡Hola! Gracias por escribirnos 😊 ¿En qué te ayudamos?",
    "Lo sentimos mucho, lo revisamos con la paquetería.",
    "Sí, enviamos a toda la península y a Canarias.",
    "Tu pedido sale el lunes. Seguimiento: https://example.invalid/track/77-3301",
    "Ya te devolvimos el cargo duplicado; tarda de 3 a 5 días hábiles.",
    "¿Nos mandas una foto de la etiqueta, por favor?",
];

/// A reply from the business in `lang`.
pub fn reply(rng: &mut StdRng, lang: Lang) -> &'static str {
    match lang {
        Lang::English => pick(rng, REPLIES_EN),
        Lang::Spanish => pick(rng, REPLIES_ES),
    }
}

/// Captions customers put on photos and videos.
const CAPTIONS: &[&str] = &[
    "This is the broken part",
    "Here's the damage 😞",
    "The label on the box",
    "Así llegó la caja",
    "Foto del recibo",
    "Mira el desgaste después de una semana",
];

/// First and last names, with the accents and letters real profiles have.
const FIRST_EN: &[&str] = &[
    "Jane", "Liam", "Zoë", "Noah", "Chloé", "Aiden", "Renée", "Owen", "Björn", "Maya",
];
const LAST_EN: &[&str] = &[
    "Doe", "Carter", "Müller", "O'Brien", "Nguyen", "Smith", "Kowalski", "Brontë",
];
const FIRST_ES: &[&str] = &[
    "María José",
    "José Ángel",
    "Lucía",
    "Íñigo",
    "Sofía",
    "Martín",
    "Begoña",
    "Raúl",
    "Ximena",
    "Nuria",
];
const LAST_ES: &[&str] = &[
    "Núñez",
    "García",
    "Peña",
    "Ibáñez",
    "López",
    "Muñoz",
    "Sáenz",
    "Domínguez",
];

/// Some profile names carry an emoji, as many WhatsApp names do.
const NAME_EMOJI: &[&str] = &["🌸", "⚽", "✨", "🇲🇽", "😎"];

/// A person's name in `lang`.
pub fn person_name(rng: &mut StdRng, lang: Lang) -> String {
    let (first, last) = match lang {
        Lang::English => (FIRST_EN, LAST_EN),
        Lang::Spanish => (FIRST_ES, LAST_ES),
    };
    let mut name = format!("{} {}", pick(rng, first), pick(rng, last));
    if rng.random_ratio(1, 5) {
        name.push(' ');
        name.push_str(pick(rng, NAME_EMOJI));
    }
    name
}

/// A support text in `lang`.
pub fn text(rng: &mut StdRng, lang: Lang) -> &'static str {
    match lang {
        Lang::English => pick(rng, TEXTS_EN),
        Lang::Spanish => pick(rng, TEXTS_ES),
    }
}

/// A photo or video caption.
pub fn caption(rng: &mut StdRng) -> &'static str {
    pick(rng, CAPTIONS)
}

/// A quick reply's (title, payload).
pub fn quick_reply(rng: &mut StdRng, lang: Lang) -> (&'static str, &'static str) {
    let en: &[(&str, &str)] = &[
        ("Track my order", "TRACK_ORDER"),
        ("Returns", "RETURNS"),
        ("Talk to a human", "HANDOFF_HUMAN"),
    ];
    let es: &[(&str, &str)] = &[
        ("Seguir mi pedido", "TRACK_ORDER"),
        ("Devoluciones", "RETURNS"),
        ("Hablar con un agente", "HANDOFF_HUMAN"),
    ];
    pick(rng, if lang == Lang::English { en } else { es })
}

/// A postback button's (title, payload).
pub fn postback(rng: &mut StdRng, lang: Lang) -> (&'static str, &'static str) {
    let en: &[(&str, &str)] = &[
        ("Get Started", "GET_STARTED"),
        ("Talk to a human", "HANDOFF_HUMAN"),
        ("Track my order", "TRACK_ORDER"),
        ("See today's deals", "DEALS_TODAY"),
    ];
    let es: &[(&str, &str)] = &[
        ("Empezar", "GET_STARTED"),
        ("Hablar con un agente", "HANDOFF_HUMAN"),
        ("Ver catálogo", "CATALOG"),
        ("Seguir mi pedido", "TRACK_ORDER"),
    ];
    pick(rng, if lang == Lang::English { en } else { es })
}

/// A WhatsApp interactive reply's (id, title, description for list replies).
pub fn interactive_reply(
    rng: &mut StdRng,
    lang: Lang,
) -> (&'static str, &'static str, &'static str) {
    let en: &[(&str, &str, &str)] = &[
        (
            "btn_talk_agent",
            "Talk to agent",
            "A person from our team replies",
        ),
        ("btn_track", "Track order", "Where your parcel is now"),
        (
            "row_returns",
            "Returns & refunds",
            "Start a return in 2 minutes",
        ),
    ];
    let es: &[(&str, &str, &str)] = &[
        (
            "btn_talk_agent",
            "Hablar con agente",
            "Te atiende una persona del equipo",
        ),
        ("btn_track", "Seguir pedido", "Dónde está tu paquete"),
        (
            "row_returns",
            "Devoluciones",
            "Inicia una devolución en 2 minutos",
        ),
    ];
    pick(rng, if lang == Lang::English { en } else { es })
}

/// A template quick-reply button's (payload, text).
pub fn template_button(rng: &mut StdRng, lang: Lang) -> (&'static str, &'static str) {
    let en: &[(&str, &str)] = &[
        ("CONFIRM_DELIVERY", "Yes, deliver tomorrow"),
        ("RESCHEDULE", "Change the date"),
        ("STOP_PROMOS", "Stop promotions"),
    ];
    let es: &[(&str, &str)] = &[
        ("CONFIRM_DELIVERY", "Sí, entregar mañana"),
        ("RESCHEDULE", "Cambiar la fecha"),
        ("STOP_PROMOS", "No quiero promociones"),
    ];
    pick(rng, if lang == Lang::English { en } else { es })
}

/// A place a customer shares: (latitude and longitude in micro-degrees, name, address).
pub fn place(rng: &mut StdRng) -> (i64, i64, Option<&'static str>, Option<&'static str>) {
    let places: &[(i64, i64, Option<&str>, Option<&str>)] = &[
        (
            37_484_700,
            -122_147_700,
            Some("Fake Store"),
            Some("1 Example Way"),
        ),
        (
            40_416_800,
            -3_703_800,
            Some("Puerta del Sol"),
            Some("Plaza de la Puerta del Sol, Madrid"),
        ),
        (
            19_432_600,
            -99_133_200,
            Some("Zócalo"),
            Some("Plaza de la Constitución, CDMX"),
        ),
        (20_967_400, -89_592_600, None, None),
        (
            47_606_200,
            -122_332_100,
            Some("Pike Place Market"),
            Some("85 Pike St, Seattle, WA 98101"),
        ),
    ];
    let (lat, lon, name, address) = pick(rng, places);
    // A pin dropped near the place, not on it.
    (
        lat + rng.random_range(-900..900),
        lon + rng.random_range(-900..900),
        name,
        address,
    )
}

/// Documents customers send: (file name, MIME type).
pub fn document(rng: &mut StdRng) -> (&'static str, &'static str) {
    let docs: &[(&str, &str)] = &[
        ("invoice-1234.pdf", "application/pdf"),
        ("factura_mayo.pdf", "application/pdf"),
        (
            "packing list.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("receipt.jpeg", "image/jpeg"),
    ];
    pick(rng, docs)
}

/// One element of `items`, at random. The slices here are non-empty constants; an empty
/// one would give the default rather than a panic.
pub(crate) fn pick<T: Copy + Default>(rng: &mut StdRng, items: &[T]) -> T {
    let at = rng.random_range(0..items.len().max(1));
    items.get(at).copied().unwrap_or_default()
}

/// A reference to one element of `items`, at random; `None` only if `items` is empty.
pub(crate) fn pick_ref<'a, T>(rng: &mut StdRng, items: &'a [T]) -> Option<&'a T> {
    items.get(rng.random_range(0..items.len().max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texts_exercise_every_escape_and_keyword() {
        let all: Vec<&str> = TEXTS_EN.iter().chain(TEXTS_ES).copied().collect();
        let has = |f: &dyn Fn(&str) -> bool| all.iter().any(|t| f(t));
        assert!(
            has(&|t| t.chars().any(|c| c as u32 > 0xffff)),
            "an astral emoji"
        );
        assert!(
            has(&|t| t.chars().any(|c| ('\u{80}'..='\u{ffff}').contains(&c))),
            "an accent"
        );
        for needle in ["/", "@", "%", "<", "&", "human", "humano", "agente", "STOP"] {
            assert!(has(&|t| t.contains(needle)), "{needle}");
        }
    }
}
