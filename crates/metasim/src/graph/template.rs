//! WhatsApp message templates: what a WABA has (name, language, status, category,
//! components), how Graph lists them (`GET /{waba_id}/message_templates`, cursor-paged),
//! and how a template send is checked against them (132001 missing or unapproved, 132000
//! wrong parameter count; reference §5c for the send shape).

use super::error::GraphError;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// A template's review status, as Graph spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
    Disabled,
}

impl TemplateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Approved => "APPROVED",
            TemplateStatus::Pending => "PENDING",
            TemplateStatus::Rejected => "REJECTED",
            TemplateStatus::Paused => "PAUSED",
            TemplateStatus::Disabled => "DISABLED",
        }
    }
}

/// A template's category; marketing ones are what a user's opt-out blocks (reference §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "MARKETING",
            TemplateCategory::Utility => "UTILITY",
            TemplateCategory::Authentication => "AUTHENTICATION",
        }
    }

    /// The `pricing.category` of status webhooks (lower case, reference §3c).
    pub fn pricing_category(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "marketing",
            TemplateCategory::Utility => "utility",
            TemplateCategory::Authentication => "authentication",
        }
    }
}

/// A header's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderFormat {
    /// Text, possibly with placeholders.
    Text(String),
    Image,
    Video,
    Document,
}

/// A button of a template's `BUTTONS` component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateButton {
    QuickReply {
        text: String,
    },
    /// A URL button; a `{{1}}` in `url` takes one parameter at the button's index.
    Url {
        text: String,
        url: String,
    },
    PhoneNumber {
        text: String,
        phone_number: String,
    },
}

/// One component of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateComponent {
    Header(HeaderFormat),
    Body(String),
    Footer(String),
    Buttons(Vec<TemplateButton>),
}

/// A message template as Graph lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: String,
    pub name: String,
    /// The locale code (`en_US`, `es`).
    pub language: String,
    pub status: TemplateStatus,
    pub category: TemplateCategory,
    pub components: Vec<TemplateComponent>,
}

impl Template {
    /// A template with just a body.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        language: impl Into<String>,
        category: TemplateCategory,
        status: TemplateStatus,
        body: impl Into<String>,
    ) -> Self {
        Template {
            id: id.into(),
            name: name.into(),
            language: language.into(),
            status,
            category,
            components: vec![TemplateComponent::Body(body.into())],
        }
    }

    /// The same template with one more component (kept in Meta's order: header, body,
    /// footer, buttons).
    pub fn with(mut self, component: TemplateComponent) -> Self {
        self.components.push(component);
        self.components.sort_by_key(|c| match c {
            TemplateComponent::Header(_) => 0,
            TemplateComponent::Body(_) => 1,
            TemplateComponent::Footer(_) => 2,
            TemplateComponent::Buttons(_) => 3,
        });
        self
    }

    fn body_text(&self) -> Option<&str> {
        self.components.iter().find_map(|c| match c {
            TemplateComponent::Body(text) => Some(text.as_str()),
            _ => None,
        })
    }

    fn header(&self) -> Option<&HeaderFormat> {
        self.components.iter().find_map(|c| match c {
            TemplateComponent::Header(format) => Some(format),
            _ => None,
        })
    }

    fn buttons(&self) -> &[TemplateButton] {
        self.components
            .iter()
            .find_map(|c| match c {
                TemplateComponent::Buttons(buttons) => Some(buttons.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// How many parameters the body takes.
    pub fn body_params(&self) -> usize {
        self.body_text().map_or(0, placeholders)
    }

    /// How many parameters the header takes: its text's placeholders, or one media object.
    pub fn header_params(&self) -> usize {
        match self.header() {
            Some(HeaderFormat::Text(text)) => placeholders(text),
            Some(HeaderFormat::Image | HeaderFormat::Video | HeaderFormat::Document) => 1,
            None => 0,
        }
    }

    /// The body with `params` put in for `{{1}}`, `{{2}}`, … (what the user would read).
    pub fn render_body(&self, params: &[String]) -> String {
        let mut text = self.body_text().unwrap_or_default().to_owned();
        for (i, param) in params.iter().enumerate() {
            text = text.replace(&format!("{{{{{}}}}}", i + 1), param);
        }
        text
    }

    /// Checks a send's `template.components` against this template's placeholders: 132000
    /// on the first component whose count differs, as Meta reports it (per component:
    /// `body: number of localizable_params (0) does not match …`). Malformed components
    /// are a 100.
    pub fn check_parameters(&self, components: Option<&Value>) -> Result<(), GraphError> {
        let mut body = 0;
        let mut header = 0;
        let mut buttons: Vec<(usize, usize)> = Vec::new();
        match components {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let kind = item
                        .get("type")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase);
                    let count = match item.get("parameters") {
                        None | Some(Value::Null) => 0,
                        Some(Value::Array(params)) => params.len(),
                        Some(_) => {
                            return Err(GraphError::whatsapp_invalid_parameter(
                                "Param template['components'][]['parameters'] must be an array.",
                            ));
                        }
                    };
                    match kind.as_deref() {
                        Some("body") => body += count,
                        Some("header") => header += count,
                        Some("button") => {
                            let index = match item.get("index") {
                                Some(Value::String(s)) => s.parse::<usize>().ok(),
                                Some(Value::Number(n)) => {
                                    n.as_u64().and_then(|n| usize::try_from(n).ok())
                                }
                                _ => None,
                            };
                            let Some(index) = index else {
                                return Err(GraphError::whatsapp_invalid_parameter(
                                    "Param template['components'][]['index'] is required for buttons.",
                                ));
                            };
                            buttons.push((index, count));
                        }
                        _ => {
                            return Err(GraphError::whatsapp_invalid_parameter(
                                "Param template['components'][]['type'] must be one of {HEADER, BODY, BUTTON}.",
                            ));
                        }
                    }
                }
            }
            Some(_) => {
                return Err(GraphError::whatsapp_invalid_parameter(
                    "Param template['components'] must be an array.",
                ));
            }
        }
        let expected_body = self.body_params();
        if body != expected_body {
            return Err(GraphError::template_parameter_mismatch(
                "body",
                body,
                expected_body,
            ));
        }
        let expected_header = self.header_params();
        if header != expected_header {
            return Err(GraphError::template_parameter_mismatch(
                "header",
                header,
                expected_header,
            ));
        }
        let template_buttons = self.buttons();
        for (index, button) in template_buttons.iter().enumerate() {
            let expected = match button {
                TemplateButton::Url { url, .. } => placeholders(url),
                TemplateButton::QuickReply { .. } | TemplateButton::PhoneNumber { .. } => 0,
            };
            let given: usize = buttons
                .iter()
                .filter(|(i, _)| *i == index)
                .map(|(_, n)| n)
                .sum();
            if given != expected {
                return Err(GraphError::template_parameter_mismatch(
                    "buttons", given, expected,
                ));
            }
        }
        if let Some((_, given)) = buttons
            .iter()
            .find(|(i, n)| *i >= template_buttons.len() && *n > 0)
        {
            return Err(GraphError::template_parameter_mismatch(
                "buttons", *given, 0,
            ));
        }
        Ok(())
    }

    /// The template as Graph lists it, limited to `fields` when given (`id` is always
    /// there, as Graph always returns it). Serialised in Meta's field order: name,
    /// components, language, status, category, id.
    pub(crate) fn to_graph(&self, fields: Option<&BTreeSet<String>>) -> GraphTemplate<'_> {
        let wanted = |field: &str| fields.is_none_or(|f| f.contains(field));
        GraphTemplate {
            name: wanted("name").then_some(self.name.as_str()),
            components: wanted("components")
                .then(|| self.components.iter().map(GraphComponent::from).collect()),
            language: wanted("language").then_some(self.language.as_str()),
            status: wanted("status").then_some(self.status.as_str()),
            category: wanted("category").then_some(self.category.as_str()),
            id: &self.id,
        }
    }
}

/// A template in a `message_templates` listing.
#[derive(Debug, Serialize)]
pub(crate) struct GraphTemplate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<Vec<GraphComponent<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    id: &'a str,
}

#[derive(Debug, Serialize)]
struct GraphComponent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    buttons: Option<Vec<GraphButton<'a>>>,
}

#[derive(Debug, Serialize)]
struct GraphButton<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
}

impl<'a> From<&'a TemplateComponent> for GraphComponent<'a> {
    fn from(component: &'a TemplateComponent) -> Self {
        let plain = |kind, text: &'a str| GraphComponent {
            kind,
            format: None,
            text: Some(text),
            buttons: None,
        };
        match component {
            TemplateComponent::Header(format) => {
                let (name, text) = match format {
                    HeaderFormat::Text(text) => ("TEXT", Some(text.as_str())),
                    HeaderFormat::Image => ("IMAGE", None),
                    HeaderFormat::Video => ("VIDEO", None),
                    HeaderFormat::Document => ("DOCUMENT", None),
                };
                GraphComponent {
                    kind: "HEADER",
                    format: Some(name),
                    text,
                    buttons: None,
                }
            }
            TemplateComponent::Body(text) => plain("BODY", text),
            TemplateComponent::Footer(text) => plain("FOOTER", text),
            TemplateComponent::Buttons(buttons) => GraphComponent {
                kind: "BUTTONS",
                format: None,
                text: None,
                buttons: Some(
                    buttons
                        .iter()
                        .map(|button| match button {
                            TemplateButton::QuickReply { text } => GraphButton {
                                kind: "QUICK_REPLY",
                                text,
                                url: None,
                                phone_number: None,
                            },
                            TemplateButton::Url { text, url } => GraphButton {
                                kind: "URL",
                                text,
                                url: Some(url),
                                phone_number: None,
                            },
                            TemplateButton::PhoneNumber { text, phone_number } => GraphButton {
                                kind: "PHONE_NUMBER",
                                text,
                                url: None,
                                phone_number: Some(phone_number),
                            },
                        })
                        .collect(),
                ),
            },
        }
    }
}

/// The number of distinct `{{…}}` placeholders in `text`.
pub fn placeholders(text: &str) -> usize {
    let mut seen = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() {
            seen.insert(name.to_owned());
        }
        rest = &after[end + 2..];
    }
    seen.len()
}

/// A realistic default set for one WABA: approved UTILITY and MARKETING templates in
/// `en_US` and `es`, an AUTHENTICATION one, one PENDING and one REJECTED. The first is the
/// fixture's `support_followup_v1` (two body parameters,
/// `fixtures/meta/whatsapp_send_template_request.json`). `id_prefix` keeps ids distinct
/// across WABAs.
pub fn default_templates(id_prefix: u64) -> Vec<Template> {
    use TemplateCategory::*;
    use TemplateStatus::*;
    let id = |n: u64| (id_prefix.wrapping_mul(100) + n).to_string();
    vec![
        Template::new(
            id(1),
            "support_followup_v1",
            "en_US",
            Utility,
            Approved,
            "Hi {{1}}, we're following up on your request {{2}}. Reply to this message to continue the conversation.",
        ),
        Template::new(
            id(2),
            "support_followup_v1",
            "es",
            Utility,
            Approved,
            "Hola {{1}}, te escribimos por tu solicitud {{2}}. Responde a este mensaje para continuar la conversación.",
        ),
        Template::new(
            id(3),
            "order_shipped",
            "en_US",
            Utility,
            Approved,
            "Good news, {{1}}! Order {{2}} left our warehouse today.",
        )
        .with(TemplateComponent::Header(HeaderFormat::Text(
            "Your order is on its way".to_owned(),
        )))
        .with(TemplateComponent::Buttons(vec![TemplateButton::Url {
            text: "Track order".to_owned(),
            url: "https://example.invalid/track/{{1}}".to_owned(),
        }])),
        Template::new(
            id(4),
            "winter_sale",
            "en_US",
            Marketing,
            Approved,
            "Hi {{1}}! Our winter sale starts today: {{2}} off everything in store.",
        )
        .with(TemplateComponent::Header(HeaderFormat::Image))
        .with(TemplateComponent::Footer(
            "Reply STOP to unsubscribe".to_owned(),
        ))
        .with(TemplateComponent::Buttons(vec![
            TemplateButton::QuickReply {
                text: "Stop promotions".to_owned(),
            },
        ])),
        Template::new(
            id(5),
            "rebajas_invierno",
            "es",
            Marketing,
            Approved,
            "¡Hola {{1}}! Empiezan las rebajas: {{2}} de descuento en toda la tienda.",
        )
        .with(TemplateComponent::Footer(
            "Responde STOP para darte de baja".to_owned(),
        )),
        Template::new(
            id(6),
            "verification_code",
            "en_US",
            Authentication,
            Approved,
            "{{1}} is your verification code. For your security, do not share this code.",
        )
        .with(TemplateComponent::Footer(
            "This code expires in 10 minutes.".to_owned(),
        )),
        Template::new(
            id(7),
            "loyalty_program_launch",
            "en_US",
            Marketing,
            Pending,
            "{{1}}, you're invited to our new loyalty program. Earn points on every order.",
        ),
        Template::new(
            id(8),
            "last_chance_deal",
            "en_US",
            Marketing,
            Rejected,
            "LAST CHANCE!!! {{1}} ends tonight. Buy now!!!",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn followup() -> Template {
        default_templates(1).remove(0)
    }

    #[test]
    fn counts_distinct_placeholders() {
        assert_eq!(placeholders("Hi {{1}}, {{2}} and {{1}} again"), 2);
        assert_eq!(placeholders("no params"), 0);
        assert_eq!(placeholders("{{ name }} {{order}} {{"), 2);
        assert_eq!(placeholders("}} {{}} {{1}"), 0);
    }

    #[test]
    fn checks_parameter_counts_per_component() {
        let template = followup();
        let two = json!([{"type": "body", "parameters": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]);
        assert!(template.check_parameters(Some(&two)).is_ok());
        let error = template.check_parameters(None).unwrap_err();
        assert_eq!(error.code, 132_000);
        assert_eq!(
            error.whatsapp_details.as_deref(),
            Some(
                "body: number of localizable_params (0) does not match the expected number of params (2)"
            )
        );
        let header = json!([{"type": "BODY", "parameters": [{}, {}]}, {"type": "header", "parameters": [{}]}]);
        assert_eq!(
            template.check_parameters(Some(&header)).unwrap_err().code,
            132_000
        );
        let bad = json!([{"type": "sticker"}]);
        assert_eq!(template.check_parameters(Some(&bad)).unwrap_err().code, 100);
        assert_eq!(
            template
                .check_parameters(Some(&json!("x")))
                .unwrap_err()
                .code,
            100
        );
    }

    #[test]
    fn url_buttons_take_their_parameter_by_index() {
        let shipped = default_templates(1).remove(2);
        let body = json!({"type": "body", "parameters": [{}, {}]});
        let ok =
            json!([body, {"type": "button", "sub_type": "url", "index": "0", "parameters": [{}]}]);
        assert!(shipped.check_parameters(Some(&ok)).is_ok());
        let missing = json!([body]);
        let error = shipped.check_parameters(Some(&missing)).unwrap_err();
        assert!(error.whatsapp_details.unwrap().starts_with("buttons:"));
        let wrong_index = json!([body, {"type": "button", "index": 3, "parameters": [{}]}]);
        assert_eq!(
            shipped
                .check_parameters(Some(&wrong_index))
                .unwrap_err()
                .code,
            132_000
        );
    }

    #[test]
    fn lists_in_graph_shape_and_honours_fields() {
        let template = followup();
        let all = serde_json::to_value(template.to_graph(None)).unwrap();
        assert_eq!(
            all["components"][0],
            json!({"type": "BODY", "text": template.render_body(&[])})
        );
        assert_eq!(all["status"], "APPROVED");
        let fields: BTreeSet<String> = ["name".to_owned()].into();
        let some = serde_json::to_value(template.to_graph(Some(&fields))).unwrap();
        assert_eq!(
            some,
            json!({"name": "support_followup_v1", "id": template.id})
        );
        assert_eq!(
            template.render_body(&["Ana".into(), "#12".into()]),
            "Hi Ana, we're following up on your request #12. Reply to this message to continue the conversation."
        );
    }

    #[test]
    fn the_default_set_has_every_status_the_tests_need() {
        let set = default_templates(7);
        let has = |status, category, language: &str| {
            set.iter()
                .any(|t| t.status == status && t.category == category && t.language == language)
        };
        assert!(has(
            TemplateStatus::Approved,
            TemplateCategory::Utility,
            "en_US"
        ));
        assert!(has(
            TemplateStatus::Approved,
            TemplateCategory::Utility,
            "es"
        ));
        assert!(has(
            TemplateStatus::Approved,
            TemplateCategory::Marketing,
            "en_US"
        ));
        assert!(has(
            TemplateStatus::Approved,
            TemplateCategory::Marketing,
            "es"
        ));
        assert_eq!(
            set.iter()
                .filter(|t| t.status == TemplateStatus::Pending)
                .count(),
            1
        );
        assert_eq!(
            set.iter()
                .filter(|t| t.status == TemplateStatus::Rejected)
                .count(),
            1
        );
        let ids: BTreeSet<&str> = set.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids.len(), set.len());
    }
}
