"""An offline stand-in for Gemini, for local runs without Google credentials.

It is not a model: deterministic keyword rules decide which tools to call and template sentences build
the reply, so the local demo exercises tools, copilot drafts and summaries end to end. Every reply says
it is offline, calls are logged with backend='offline' and cost nothing.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from typing import Any

from shared.domain.usage import ModelCall, TokenUsage
from shared.ports import ChatTurn, Extraction, Generation, Prompt, ToolCall

OFFLINE_MODEL_ID = "offline-template"
_TAG = "[resposta do modelo offline — sem Gemini nesta execução local]"

_MONEY = re.compile(r"r\$\s*([\d.,]+)")
_NAME = re.compile(r"\b(?:meu nome e|me chamo|sou (?:o|a))\s+([a-z]+)")
_TIMES = re.compile(r"\b(amanha|hoje|segunda|terca|quarta|quinta|sexta|sabado|domingo)\b[^.,;!?]*")
_CHOICE = re.compile(r"\b(o|a) (primeir|segund|terceir|ultim)[oa]\b")
_PLACE = re.compile(r"\b(?:sou de|estou em|moro em|falo de)\s+([a-z][a-z -]{1,40}?)(?=\s*(?:[.,;!?]|$|\be\b|\bmas\b))")
_HOUR = re.compile(r"\b\d{1,2}\s*(h|:)\d{0,2}\b")
_WHEN = re.compile(r"\b(esse mes|este mes|mes que vem|proximo mes|este ano|urgente|o quanto antes|"
                   r"em \d+ (?:dias|semanas|meses))\b")


_POLICY_WORDS = ("garantia", "parcel", "financ", "prazo", "homolog", "manutenc", "limpeza", "atendem", "entrada",
                 "vendem", "como eu", "como faco", "aciono")


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


def _estimate_tokens(text: str) -> int:
    # Roughly four characters per token for Portuguese and English: enough to exercise the accounting.
    return max(1, len(text) // 4)


def _lead_lines(prompt: Prompt) -> list[str]:
    last_user = next((t.text for t in reversed(prompt.turns) if t.role == "user" and t.text), "")
    return [line.strip() for line in last_user.splitlines() if line.strip()]


def _tool_calls(text: str, offered: set[str]) -> list[ToolCall]:
    plain = _plain(text)
    calls: list[ToolCall] = []
    lead: dict[str, str] = {}
    if money := _MONEY.search(plain):
        lead["budget"] = f"R$ {money.group(1).rstrip('.,')} ({'conta de luz mensal' if 'conta' in plain else 'informado'})"
    if name := _NAME.search(plain):
        lead["name"] = name.group(1).title()
    if when := _WHEN.search(plain):
        lead["timeline"] = when.group(1)
    if "casa" in plain or "comercio" in plain or "empresa" in plain:
        lead["need"] = "energia solar para " + ("casa própria" if "casa" in plain else "o negócio")
    if "eu que decido" in plain or "eu decido" in plain or "minha esposa" in plain or "meu socio" in plain:
        lead["authority"] = "o próprio lead" if "decido" in plain else "decide junto com outra pessoa"
    if place := _PLACE.search(plain):
        lead["location"] = place.group(1).strip().title()  # the lead's zone for meeting times (issue 19)
    if lead:
        calls.append(ToolCall("update_lead", lead))
    if any(w in plain for w in ("quanto custa", "preco", "valor", "orcamento")):
        calls.append(ToolCall("lookup_catalog", {"query": text}))
    times = [m.group(0).strip() for m in _TIMES.finditer(plain)]
    wants_meeting = any(w in plain for w in ("visita", "agendar", "reuniao"))
    if "book_meeting" in offered and (_CHOICE.search(plain) or (times and (wants_meeting or _HOUR.search(plain)))):
        calls.append(ToolCall("book_meeting", {"when": text.strip()}))  # the agent has a calendar (issue 19)
    elif "offer_slots" in offered and wants_meeting:
        calls.append(ToolCall("offer_slots", {}))
    elif times and wants_meeting:
        calls.append(ToolCall("request_meeting", {"proposed_times": times, "topic": "visita técnica"}))
    if not calls and "?" in text and any(w in plain for w in _POLICY_WORDS):
        calls.append(ToolCall("search_knowledge", {"question": text.strip()}))
    if re.search(r"falar com (um |uma )?(humano|atendente|pessoa|vendedor|gerente)", plain):
        calls.append(ToolCall("handoff_to_human", {"reason": "o lead pediu para falar com uma pessoa",
                                                   "question": text}))
    return [c for c in calls if c.name in offered]


def _from_results(turn: ChatTurn) -> str:
    sentences: list[str] = []
    for result in turn.tool_results:
        r: dict[str, Any] = result.response
        if result.name == "lookup_catalog" and r.get("items"):
            item = r["items"][0]
            sentences.append(f"O {item['name']} sai por {item.get('price') or 'um valor que confirmo com a equipe'}.")
        elif result.name == "offer_slots" and r.get("slots"):
            options = "; ".join(f"{slot['option']}) {slot['label']}" for slot in r["slots"])
            sentences.append(f"Tenho estes horários para a {r['kind'].lower()}: {options}. Qual fica melhor?")
        elif result.name in ("book_meeting", "reschedule_meeting") and r.get("ok") and r.get("when"):
            link = f" Link: {r['video_link']}" if r.get("video_link") else ""
            sentences.append(f"Pronto! {r['kind']} marcada para {r['when']}.{link} Te lembro antes.")
        elif result.name in ("book_meeting", "reschedule_meeting") and r.get("alternatives"):
            options = "; ".join(slot["label"] for slot in r["alternatives"])
            sentences.append(f"Esse horário não está livre ({r.get('reason')}). Posso oferecer: {options}?")
        elif result.name == "request_meeting" and r.get("ok") or r.get("fallback") and r.get("times"):
            sentences.append(f"Registrei seu pedido de visita ({', '.join(r['times'])}); um consultor confirma já já.")
        elif result.name == "search_knowledge" and r.get("found"):
            passage = r["passages"][0]
            body = " ".join(passage["text"].split())
            body = body[len(passage.get("section") or ""):].strip() if body.startswith(passage.get("section") or "\0") else body
            sentences.append(f"Segundo nossos documentos ({passage['source']}): {body[:260]}")
        elif result.name == "search_knowledge":
            sentences.append("Não encontrei isso nos nossos documentos; vou confirmar com a equipe e já te retorno.")
        elif result.name == "handoff_to_human":
            sentences.append("Vou chamar um especialista da equipe para continuar com você.")
        elif result.name == "update_lead" and r.get("changed"):
            sentences.append("Anotado!")
            if r.get("still_unknown") and not any(other.name == "offer_slots" for other in turn.tool_results):
                ask = {"need": "o que você procura", "budget": "o valor médio da sua conta de luz",
                       "authority": "quem decide a compra", "timeline": "para quando pensa em instalar"}
                sentences.append(f"Pode me contar {ask[r['still_unknown'][0]]}?")
    return " ".join(sentences) or "Certo!"


_SMALL_TALK = ("oi", "ola", "bom dia", "boa tarde", "boa noite", "tudo bem", "ja volto", "um instante", "obrigad")


def _offline_learning(text: str) -> str:
    """Offline stand-in for distilling: it cannot rephrase, so it keeps the seller's words and says so; a short
    greeting or a 'be right back' is nothing to learn."""
    question = text.split("Open question:", 1)[-1].split("\n", 1)[0].strip()
    answer = text.rsplit("The seller's answer:", 1)[-1].strip()
    plain = _plain(answer)
    if len(plain.split()) <= 4 and any(plain.startswith(w) for w in _SMALL_TALK):
        return json.dumps({"learn": False, "reason": "offline: small talk, no business fact"})
    return json.dumps({"learn": True, "question": question, "answer": answer,
                       "reason": "offline: the seller's words kept as they are (no model to distil them)"},
                      ensure_ascii=False)


class OfflineModel:
    backend = "offline"

    def generate(self, prompt: Prompt) -> Generation:
        started = time.perf_counter()
        calls: tuple[ToolCall, ...] = ()
        lines = _lead_lines(prompt)
        # A document's text can be long: quote the start of each line, enough to show what was read.
        quoted = " / ".join(line if len(line) <= 220 else f"{line[:220]}…" for line in lines[-3:])
        if prompt.purpose == "summary":
            text = f"Resumo (offline): {prompt.turns[-1].text[:600]}"
        elif prompt.purpose == "audit":
            from shared.domain.audit import offline_rubric

            text = offline_rubric(prompt.turns[-1].text).model_dump_json()
        elif prompt.purpose == "followup":
            text = f"Oi! Passando para retomar: você falou de “{quoted}”. Posso te ajudar a dar o próximo passo? {_TAG}"
        elif prompt.purpose == "learning":
            text = _offline_learning(prompt.turns[-1].text if prompt.turns else "")
        elif prompt.json_schema is not None:
            plain = _plain(" ".join(lines))
            text = json.dumps({
                "draft_reply": f"Oi! Sobre “{quoted}”: posso te explicar as opções e agendar uma visita? {_TAG}",
                "summary": f"O lead escreveu: {quoted}",
                "tone": "cordial e direto",
                "interests": [w for w in ("energia solar", "financiamento", "visita") if _plain(w) in plain],
                "objections": [w for w in ("preco", "caro", "desconto", "concorrente") if w in plain],
                "sentiment": "neutral",
                "intent": "question" if "?" in quoted else "interest",
                "best_time_to_recontact": "horário comercial, amanhã",
            }, ensure_ascii=False)
        elif prompt.turns and prompt.turns[-1].tool_results:
            text = f"Sobre “{quoted}”: {_from_results(prompt.turns[-1])} {_TAG}"
        elif prompt.tools and not prompt.force_text and (
                calls := tuple(_tool_calls("\n".join(lines), {t.name for t in prompt.tools}))):
            text = ""
        else:
            plural = "suas mensagens" if len(lines) > 1 else "sua mensagem"
            text = f"Olá! Recebi {plural}: “{quoted}”. Já vou te ajudar com isso. {_TAG}"
        prompt_text = prompt.system + "".join(turn.text for turn in prompt.turns)
        usage = TokenUsage(prompt_tokens=_estimate_tokens(prompt_text), output_tokens=_estimate_tokens(text or "x"))
        latency_ms = int((time.perf_counter() - started) * 1000)
        call = ModelCall(model=OFFLINE_MODEL_ID, backend=self.backend, purpose=prompt.purpose, usage=usage,
                         latency_ms=latency_ms, cost_usd=0.0)
        return Generation(text=text, call=call, tool_calls=calls)


OFFLINE_MEDIA_MODEL_ID = "offline-media"


def _wav_seconds(audio: bytes) -> float | None:
    import io
    import wave

    try:
        with wave.open(io.BytesIO(audio)) as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def _png_size(image: bytes) -> tuple[int, int] | None:
    if image[:8] != b"\x89PNG\r\n\x1a\n" or len(image) < 24:
        return None
    return int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")


class OfflineMediaReader:
    """Stands in for Gemini's media input in local runs. It cannot hear, see or read scans, and says so.

    What it returns is labelled as offline and holds only facts read from the file itself (length, size), so
    the demo and tests exercise the whole path without anyone mistaking it for a transcript.
    """

    backend = "offline"

    def transcribe(self, audio: bytes, mime_type: str, language: str) -> Extraction:
        seconds = _wav_seconds(audio)
        length = f"{seconds:.1f} s de áudio" if seconds is not None else f"{len(audio)} bytes de áudio"
        return self._labelled(f"(transcrição offline indisponível: nota de voz recebida, {length} {mime_type}; "
                              "sem Gemini nesta execução local)", "transcription", audio)

    def describe_image(self, image: bytes, mime_type: str, language: str) -> Extraction:
        size = _png_size(image)
        what = f"{size[0]}×{size[1]} px" if size else f"{len(image)} bytes"
        return self._labelled(f"(descrição offline indisponível: imagem {mime_type} de {what} recebida; "
                              "sem Gemini nesta execução local)", "image", image)

    def read_scanned_document(self, pdf: bytes, language: str) -> Extraction:
        return self._labelled("(leitura offline indisponível: PDF escaneado, sem camada de texto; "
                              "sem Gemini nesta execução local)", "ocr", pdf)

    def _labelled(self, text: str, purpose: str, data: bytes) -> Extraction:
        started = time.perf_counter()
        usage = TokenUsage(prompt_tokens=_estimate_tokens("x" * min(len(data), 4000)),
                           output_tokens=_estimate_tokens(text))
        call = ModelCall(model=OFFLINE_MEDIA_MODEL_ID, backend=self.backend, purpose=purpose, usage=usage,
                         latency_ms=int((time.perf_counter() - started) * 1000), cost_usd=0.0)
        return Extraction(text=text, call=call)
