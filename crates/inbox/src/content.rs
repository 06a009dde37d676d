//! What the cache keeps of a message's content besides its JSON: its kind, the words
//! search finds it by, and the attachment it carries. Pure; shared by `apply.rs` (the
//! relay's events) and `outbox.rs` (a reply before the relay has it), which must agree.

use ventana_protocol::event::MessageContent;

/// The message's kind, as the UI and the inbox preview name it.
pub fn kind_of(content: &MessageContent) -> &'static str {
    match content {
        MessageContent::Text { .. } => "text",
        MessageContent::Image(_) => "image",
        MessageContent::Audio(_) => "audio",
        MessageContent::Video(_) => "video",
        MessageContent::Document(_) => "document",
        MessageContent::Sticker(_) => "sticker",
        MessageContent::Location { .. } => "location",
        MessageContent::Contacts { .. } => "contacts",
        MessageContent::InteractiveReply { .. } => "interactive_reply",
        MessageContent::Button { .. } => "button",
        MessageContent::Postback { .. } => "postback",
        MessageContent::Referral(_) => "referral",
        MessageContent::Template(_) => "template",
        MessageContent::Unsupported { .. } => "unsupported",
    }
}

/// The attachment a message carries, if any.
pub fn media_id(content: &MessageContent) -> Option<&str> {
    match content {
        MessageContent::Image(media)
        | MessageContent::Audio(media)
        | MessageContent::Video(media)
        | MessageContent::Document(media)
        | MessageContent::Sticker(media) => Some(media.media_id.as_str()),
        _ => None,
    }
}

/// The words search should find a message by.
pub fn searchable_text(content: &MessageContent) -> Option<String> {
    let join = |parts: Vec<Option<&str>>| {
        let text = parts.into_iter().flatten().collect::<Vec<_>>().join(" ");
        (!text.trim().is_empty()).then_some(text)
    };
    match content {
        MessageContent::Text { body } => Some(body.clone()),
        MessageContent::Image(media)
        | MessageContent::Audio(media)
        | MessageContent::Video(media)
        | MessageContent::Document(media)
        | MessageContent::Sticker(media) => {
            join(vec![media.caption.as_deref(), media.filename.as_deref()])
        }
        MessageContent::Location { name, address, .. } => {
            join(vec![name.as_deref(), address.as_deref()])
        }
        MessageContent::Contacts { contacts } => {
            join(contacts.iter().map(|c| Some(c.name.as_str())).collect())
        }
        MessageContent::InteractiveReply {
            title, description, ..
        } => join(vec![Some(title.as_str()), description.as_deref()]),
        MessageContent::Button { text, .. } => Some(text.clone()),
        MessageContent::Postback { title, .. } => Some(title.clone()),
        MessageContent::Referral(referral) => join(vec![referral.headline.as_deref()]),
        // What the customer read, when the event carries it; else the name and values.
        MessageContent::Template(template) if template.text.is_some() => template.text.clone(),
        MessageContent::Template(template) => {
            let mut parts = vec![Some(template.name.as_str())];
            parts.extend(template.body_parameters.iter().map(|p| Some(p.as_str())));
            join(parts)
        }
        MessageContent::Unsupported { description } => description.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ventana_protocol::event::{TemplateCategory, TemplateMessage};

    #[test]
    fn a_template_is_found_and_previewed_by_the_text_the_customer_read() {
        let template = |text: Option<&str>| {
            MessageContent::Template(TemplateMessage {
                name: "order_update".into(),
                language: "es".into(),
                category: TemplateCategory::Utility,
                body_parameters: vec!["Ana".into(), "#42".into()],
                text: text.map(str::to_owned),
            })
        };
        assert_eq!(
            searchable_text(&template(Some("Hola Ana, tu pedido #42 salió"))).as_deref(),
            Some("Hola Ana, tu pedido #42 salió")
        );
        // An older event without the text: its name and values, as before.
        let older = searchable_text(&template(None)).unwrap_or_default();
        assert!(
            older.contains("order_update") && older.contains("#42"),
            "{older}"
        );
    }
}
