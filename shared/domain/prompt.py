"""Turn an agent's configuration and the recent conversation into a model prompt. Pure."""

from __future__ import annotations

from shared.domain.conversation import Conversation, Role, StoredMessage
from shared.domain.inbound import MessageKind
from shared.domain.media import MediaStatus
from shared.domain.tenancy import AgentConfig
from shared.ports import ChatTurn, Prompt

# Until media is transcribed, the model must know something arrived rather than see a gap.
_UNREAD_MEDIA = {
    MessageKind.AUDIO: "[the lead sent a voice note; its transcript is not available]",
    MessageKind.IMAGE: "[the lead sent an image; its description is not available]",
    MessageKind.VIDEO: "[the lead sent a video; it cannot be watched]",
    MessageKind.DOCUMENT: "[the lead sent a document; its text is not available]",
    MessageKind.STICKER: "[the lead sent a sticker]",
    MessageKind.CONTACTS: "[the lead shared a contact card]",
    MessageKind.UNSUPPORTED: "[the lead sent a message type WhatsApp could not deliver to us]",
}


def system_instruction(agent: AgentConfig, conversation: Conversation, context: list[str] | None = None) -> str:
    lines = [
        agent.persona.strip(),
        f"Your name is {agent.display_name}." if agent.display_name else "",
        f"You work for {agent.business_name}." if agent.business_name else "",
        f"About the business: {agent.business_description.strip()}" if agent.business_description else "",
        f"Always answer in the language of the locale {agent.language} unless the lead writes in another language.",
        "You are chatting on WhatsApp: plain text, no markdown headings, at most a few short sentences.",
        "Never invent prices, stock, dates or policies you were not given; say you will check instead.",
        f"The lead's name is {conversation.contact_name}." if conversation.contact_name else "",
        "Use your tools: record what the lead tells you about themselves (update_lead), check prices in the "
        "catalogue before quoting (lookup_catalog), search the company's documents for policies and procedures "
        "(search_knowledge), request meetings (request_meeting), and hand off to a human when unsure "
        "(handoff_to_human) instead of guessing.",
        f"Summary of the earlier conversation: {conversation.summary}" if conversation.summary else "",
        *(context or []),
    ]
    return "\n".join(line for line in lines if line)


def render_message(message: StoredMessage, quoted: dict[str, StoredMessage] | None = None) -> str:
    """The text the model sees for one stored message; `quoted` (provider id → message) resolves what a reaction
    or a reply points at, when that message is in the window."""
    if message.kind == MessageKind.REACTION:
        target = _quote(message.reaction_to, quoted)
        on = f" to {target}" if target else ""
        return f"[reacted with {message.text}{on}]" if message.text else f"[removed a reaction{on}]"
    body = _render_body(message)
    details = []
    if message.choice_id and message.choice_id != message.text:
        details.append(f"option id {message.choice_id!r}")
    if message.choice_description:
        details.append(message.choice_description)
    if message.referral:
        ad = message.referral.get("headline") or message.referral.get("source_url") or message.referral.get("source_id")
        details.append(f"came from the ad {ad!r}" if ad else "came from an ad")
    if details:
        body = f"{body} ({'; '.join(details)})"
    target = _quote(message.reply_to, quoted)
    return f"[replying to {target}] {body}" if target else body


def _render_body(message: StoredMessage) -> str:
    if message.media_status is not None:
        return render_media(message)
    if message.kind == MessageKind.LOCATION and message.location is not None:
        place = ", ".join(p for p in (message.location.name, message.location.address) if p)
        where = f"{message.location.latitude},{message.location.longitude}"
        return f"[the lead shared a location: {place} ({where})]" if place else f"[the lead shared a location: {where}]"
    placeholder = _UNREAD_MEDIA.get(message.kind)
    if placeholder and message.text:
        return f"{placeholder} Caption: {message.text}"
    return message.text or placeholder or f"[{message.kind.value} message]"


_QUOTE_CHARS = 120


def _quote(provider_message_id: str | None, quoted: dict[str, StoredMessage] | None) -> str | None:
    if not provider_message_id:
        return None
    target = (quoted or {}).get(provider_message_id)
    if target is None:
        return "an earlier message"
    who = "your" if target.role != Role.LEAD else "their own"
    text = " ".join((target.text or f"[{target.kind.value}]").split())
    if len(text) > _QUOTE_CHARS:
        text = text[:_QUOTE_CHARS] + "…"
    return f"{who} message \"{text}\""


def build_prompt(agent: AgentConfig, conversation: Conversation, history: list[StoredMessage],
                 context: list[str] | None = None) -> Prompt:
    """Consecutive messages of one side become one turn, so a burst of short messages reads as one."""
    turns: list[ChatTurn] = []
    quoted = {m.provider_message_id: m for m in history if m.provider_message_id}
    for message in history:
        if message.role == Role.AGENT and not message.text:
            continue  # a reply still being written has no text yet
        role = "user" if message.role == Role.LEAD else "model"
        text = render_message(message, quoted)
        if turns and turns[-1].role == role:
            turns[-1] = ChatTurn(role=role, text=f"{turns[-1].text}\n{text}")
        else:
            turns.append(ChatTurn(role=role, text=text))
    max_tokens = max(64, agent.max_reply_chars // 2)
    return Prompt(system=system_instruction(agent, conversation, context), turns=turns, max_output_tokens=max_tokens)


# What the media processor read from a lead's file, or an honest account of why it could not.
_MEDIA_NOUN = {
    MessageKind.AUDIO: "an audio file",
    MessageKind.IMAGE: "an image",
    MessageKind.VIDEO: "a video",
    MessageKind.DOCUMENT: "a document",
    MessageKind.STICKER: "a sticker",
}
_MEDIA_TEXT_IN_PROMPT = 3000  # characters of one file's text; the whole text stays on the message
_COULD_NOT_OPEN = ("Tell the lead honestly that you could not open it and ask them to type the main point "
                   "(or send it another way); do not guess its content.")


def render_media(message: StoredMessage) -> str:
    noun = "a voice note" if message.media and message.media.voice else _MEDIA_NOUN.get(message.kind, "a file")
    if message.kind == MessageKind.DOCUMENT and message.media and message.media.filename:
        noun = f"a document named {message.media.filename!r}"
    caption = f" Caption: {message.text}" if message.text else ""
    status = message.media_status
    if status is MediaStatus.DONE:
        # One line per file: WhatsApp messages are short, and the model reads a flat text just as well.
        text = " ".join((message.media_text or "").split())
        if len(text) > _MEDIA_TEXT_IN_PROMPT:
            text = text[:_MEDIA_TEXT_IN_PROMPT] + " […]"
        if not text:
            return f"[the lead sent {noun} with no readable content]{caption}"
        what = "transcript" if message.kind == MessageKind.AUDIO else (
            "description" if message.kind in (MessageKind.IMAGE, MessageKind.STICKER) else "text")
        return f"[the lead sent {noun}; its {what}:] {text}{caption}"
    if status is MediaStatus.PENDING:
        return f"[the lead sent {noun}; it could not be processed in time. {_COULD_NOT_OPEN}]{caption}"
    reason = f" ({message.media_reason})" if message.media_reason else ""
    return f"[the lead sent {noun} that could not be opened{reason}. {_COULD_NOT_OPEN}]{caption}"
