//! `/chat`: the chat in the browser. The page is a frame; `/static/chat.js` fills it from
//! the WebSocket, writing every text with `textContent`, never as HTML.

use maud::{Markup, html};

use super::{Frame, layout_with};

pub fn page(frame: Frame<'_>) -> Markup {
    let body = html! {
        div.chat {
            div.chat-head {
                h1 { "Chat " span #room { "#lobby" } }
                p #status role="status" { "Connecting…" }
            }
            noscript { p.error { "The chat in the browser needs JavaScript. Without it, use ssh (see the home page)." } }
            div.chat-body {
                section.log aria-label="Messages" {
                    ol #lines aria-live="polite" {}
                }
                aside.members aria-label="Rooms and people" {
                    h2 #members-title { "Here " span #count {} }
                    ul #members aria-labelledby="members-title" {}
                    h2 #rooms-title { "Rooms" }
                    ul #rooms aria-labelledby="rooms-title" {}
                }
            }
            form #say autocomplete="off" {
                label for="text" { "Message, or a command such as /who or /join #rust" }
                div.say-row {
                    input #text name="text" type="text" maxlength="4000" placeholder="Say something, or /help" autocomplete="off";
                    button type="submit" { "Send" }
                }
            }
        }
    };
    layout_with(frame, "Chat", Some("chat"), body)
}
