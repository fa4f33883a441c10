"""The engine's own words in the six languages the consent keywords cover: its messages and its commands.

A message goes in the contact's language, else its base language's (``pt`` finds ``pt_BR``), else in
English. Commands are understood in every language at once: a customer who types "ajuda" wants help
whatever language their contact says they speak.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

LANGUAGES = ("en", "nl", "de", "fr", "es", "pt_BR")
DEFAULT = "en"

MESSAGES: Mapping[str, Mapping[str, str]] = {
    "cancelled": {
        "en": "Okay, I've stopped that. Write anything to see the menu again.",
        "nl": "Oké, ik ben ermee gestopt. Stuur iets om het menu weer te zien.",
        "de": "Okay, ich habe das abgebrochen. Schreib etwas, um das Menü wieder zu sehen.",
        "fr": "D'accord, j'ai arrêté. Écrivez n'importe quoi pour revoir le menu.",
        "es": "De acuerdo, lo he detenido. Escribe lo que quieras para ver el menú de nuevo.",
        "pt_BR": "Certo, parei por aqui. Escreva qualquer coisa para ver o menu de novo.",
    },
    "help": {
        "en": "I can help with your orders, appointments and account balance. "
        "Type menu to start over, cancel to stop, or agent to talk to a person.",
        "nl": "Ik help je met je bestellingen, afspraken en je saldo. "
        "Typ menu om opnieuw te beginnen, annuleren om te stoppen, of medewerker om iemand te spreken.",
        "de": "Ich helfe bei Bestellungen, Terminen und deinem Kontostand. "
        "Schreib Menü für den Anfang, abbrechen zum Beenden oder Mitarbeiter, um mit einem Menschen zu sprechen.",
        "fr": "Je peux vous aider pour vos commandes, vos rendez-vous et votre solde. "
        "Tapez menu pour recommencer, annuler pour arrêter, ou conseiller pour parler à une personne.",
        "es": "Puedo ayudarte con tus pedidos, tus citas y tu saldo. "
        "Escribe menú para empezar de nuevo, cancelar para parar, o agente para hablar con una persona.",
        "pt_BR": "Posso ajudar com seus pedidos, agendamentos e saldo. "
        "Digite menu para recomeçar, cancelar para parar, ou atendente para falar com uma pessoa.",
    },
    "handed_off": {
        "en": "A person from our team will reply here shortly.",
        "nl": "Iemand van ons team antwoordt hier zo.",
        "de": "Jemand aus unserem Team antwortet dir hier gleich.",
        "fr": "Une personne de notre équipe va vous répondre ici sous peu.",
        "es": "Una persona de nuestro equipo te responderá aquí en breve.",
        "pt_BR": "Uma pessoa da nossa equipe vai responder aqui em breve.",
    },
    "apology": {
        "en": "Sorry, something went wrong on our side. Type menu to start again, or agent to talk to a person.",
        "nl": "Sorry, er ging bij ons iets mis. Typ menu om opnieuw te beginnen, of medewerker om iemand te spreken.",
        "de": "Entschuldigung, bei uns ist etwas schiefgegangen. Schreib Menü, um neu zu beginnen, "
        "oder Mitarbeiter, um mit einem Menschen zu sprechen.",
        "fr": "Désolé, un problème est survenu de notre côté. Tapez menu pour recommencer, "
        "ou conseiller pour parler à une personne.",
        "es": "Lo sentimos, algo ha fallado por nuestra parte. Escribe menú para empezar de nuevo, "
        "o agente para hablar con una persona.",
        "pt_BR": "Desculpe, algo deu errado do nosso lado. Digite menu para recomeçar, "
        "ou atendente para falar com uma pessoa.",
    },
    "exhausted": {
        "en": "Let's leave it there for now. Type menu to start again, or agent to talk to a person.",
        "nl": "Laten we het hier even bij laten. Typ menu om opnieuw te beginnen, of medewerker om iemand te spreken.",
        "de": "Lassen wir es vorerst dabei. Schreib Menü, um neu zu beginnen, "
        "oder Mitarbeiter, um mit einem Menschen zu sprechen.",
        "fr": "Restons-en là pour le moment. Tapez menu pour recommencer, ou conseiller pour parler à une personne.",
        "es": "Dejémoslo aquí por ahora. Escribe menú para empezar de nuevo, o agente para hablar con una persona.",
        "pt_BR": "Vamos parar por aqui. Digite menu para recomeçar, ou atendente para falar com uma pessoa.",
    },
    "timed_out": {
        "en": "We closed this chat after a while without a reply. Write anytime to start again.",
        "nl": "We hebben dit gesprek gesloten omdat we een tijd niets hoorden. Stuur gerust iets om te beginnen.",
        "de": "Wir haben diesen Chat nach einer Weile ohne Antwort geschlossen. Schreib jederzeit, um neu zu beginnen.",
        "fr": "Nous avons fermé cette conversation faute de réponse. Écrivez quand vous voulez pour recommencer.",
        "es": "Cerramos este chat tras un rato sin respuesta. Escribe cuando quieras para empezar de nuevo.",
        "pt_BR": "Encerramos esta conversa depois de um tempo sem resposta. Escreva quando quiser para recomeçar.",
    },
    "not_text": {
        "en": "I can only read text messages here.",
        "nl": "Ik kan hier alleen tekstberichten lezen.",
        "de": "Ich kann hier nur Textnachrichten lesen.",
        "fr": "Je ne peux lire ici que des messages texte.",
        "es": "Aquí solo puedo leer mensajes de texto.",
        "pt_BR": "Aqui eu só consigo ler mensagens de texto.",
    },
    "changed": {
        "en": "This conversation was updated on our side, so let's start again.",
        "nl": "Dit gesprek is bij ons bijgewerkt, dus we beginnen opnieuw.",
        "de": "Dieser Chat wurde bei uns aktualisiert, also fangen wir neu an.",
        "fr": "Cette conversation a été mise à jour de notre côté, alors recommençons.",
        "es": "Esta conversación se actualizó por nuestra parte, así que empecemos de nuevo.",
        "pt_BR": "Esta conversa foi atualizada do nosso lado, então vamos recomeçar.",
    },
    "wrong_code": {
        "en": "That code isn't right. Please check the latest message from us and try again.",
        "nl": "Die code klopt niet. Kijk in ons laatste bericht en probeer het opnieuw.",
        "de": "Dieser Code stimmt nicht. Sieh in unserer letzten Nachricht nach und versuche es erneut.",
        "fr": "Ce code n'est pas le bon. Vérifiez notre dernier message et réessayez.",
        "es": "Ese código no es correcto. Revisa nuestro último mensaje e inténtalo de nuevo.",
        "pt_BR": "Esse código não está certo. Confira nossa última mensagem e tente de novo.",
    },
    "code_refused": {
        "en": "We couldn't send you a code just now. Please try again in a few minutes.",
        "nl": "We konden je nu geen code sturen. Probeer het over een paar minuten opnieuw.",
        "de": "Wir konnten dir gerade keinen Code senden. Bitte versuche es in ein paar Minuten erneut.",
        "fr": "Nous n'avons pas pu vous envoyer de code pour l'instant. Réessayez dans quelques minutes.",
        "es": "No hemos podido enviarte un código ahora. Inténtalo de nuevo en unos minutos.",
        "pt_BR": "Não conseguimos enviar um código agora. Tente de novo em alguns minutos.",
    },
    "choose": {
        "en": "Please choose:",
        "nl": "Maak een keuze:",
        "de": "Bitte wähle:",
        "fr": "Faites votre choix :",
        "es": "Elige una opción:",
        "pt_BR": "Escolha uma opção:",
    },
    "more": {
        "en": "More options",
        "nl": "Meer opties",
        "de": "Weitere Optionen",
        "fr": "Plus d'options",
        "es": "Más opciones",
        "pt_BR": "Mais opções",
    },
    "did_you_mean": {
        "en": "Did you mean “{title}”?",
        "nl": "Bedoel je “{title}”?",
        "de": "Meintest du „{title}“?",
        "fr": "Vouliez-vous dire « {title} » ?",
        "es": "¿Quisiste decir «{title}»?",
        "pt_BR": "Você quis dizer “{title}”?",
    },
    "yes": {"en": "Yes", "nl": "Ja", "de": "Ja", "fr": "Oui", "es": "Sí", "pt_BR": "Sim"},
    "form_closed": {
        "en": "That form is no longer open, so we kept nothing from it.",
        "nl": "Dat formulier is niet meer open, dus we hebben er niets van bewaard.",
        "de": "Dieses Formular ist nicht mehr offen, daher haben wir nichts daraus übernommen.",
        "fr": "Ce formulaire n'est plus ouvert, nous n'en avons donc rien gardé.",
        "es": "Ese formulario ya no está abierto, así que no guardamos nada de él.",
        "pt_BR": "Esse formulário não está mais aberto, então não guardamos nada dele.",
    },
    "form_invalid": {
        "en": "Some answers in the form were missing or not valid. Please fill it in again.",
        "nl": "Sommige antwoorden in het formulier ontbraken of klopten niet. Vul het opnieuw in.",
        "de": "Einige Antworten im Formular fehlten oder waren ungültig. Bitte fülle es erneut aus.",
        "fr": "Certaines réponses du formulaire manquaient ou n'étaient pas valides. Remplissez-le à nouveau.",
        "es": "Faltaban respuestas en el formulario o no eran válidas. Rellénalo de nuevo, por favor.",
        "pt_BR": "Algumas respostas do formulário faltaram ou não eram válidas. Preencha de novo, por favor.",
    },
    "use_form": {
        "en": "Please answer with the form: tap its button below.",
        "nl": "Antwoord met het formulier: tik op de knop eronder.",
        "de": "Bitte antworte mit dem Formular: tippe auf seine Schaltfläche unten.",
        "fr": "Répondez avec le formulaire : touchez son bouton ci-dessous.",
        "es": "Responde con el formulario: toca su botón de abajo.",
        "pt_BR": "Responda pelo formulário: toque no botão abaixo.",
    },
    "send_image": {
        "en": "Please send a photo: tap the clip or the camera and pick one.",
        "nl": "Stuur een foto: tik op de paperclip of de camera en kies er een.",
        "de": "Bitte schick ein Foto: tippe auf die Büroklammer oder die Kamera und wähle eines aus.",
        "fr": "Envoyez une photo : touchez le trombone ou l'appareil photo et choisissez-en une.",
        "es": "Envía una foto: toca el clip o la cámara y elige una.",
        "pt_BR": "Envie uma foto: toque no clipe ou na câmera e escolha uma.",
    },
    "send_document": {
        "en": "Please send the file as a document: tap the clip, then Document.",
        "nl": "Stuur het bestand als document: tik op de paperclip en dan op Document.",
        "de": "Bitte schick die Datei als Dokument: tippe auf die Büroklammer, dann auf Dokument.",
        "fr": "Envoyez le fichier comme document : touchez le trombone, puis Document.",
        "es": "Envía el archivo como documento: toca el clip y luego Documento.",
        "pt_BR": "Envie o arquivo como documento: toque no clipe e depois em Documento.",
    },
    "send_location": {
        "en": "Please share a location: tap the clip, then Location.",
        "nl": "Deel een locatie: tik op de paperclip en dan op Locatie.",
        "de": "Bitte teile einen Standort: tippe auf die Büroklammer, dann auf Standort.",
        "fr": "Partagez une position : touchez le trombone, puis Position.",
        "es": "Comparte una ubicación: toca el clip y luego Ubicación.",
        "pt_BR": "Compartilhe uma localização: toque no clipe e depois em Localização.",
    },
    "pick_one": {
        "en": "Please pick one of the options.",
        "nl": "Kies een van de opties.",
        "de": "Bitte wähle eine der Optionen.",
        "fr": "Choisissez l'une des options.",
        "es": "Elige una de las opciones.",
        "pt_BR": "Escolha uma das opções.",
    },
}

# Typed words (folded: no case, accents or punctuation) and the command each one is, in every language.
COMMANDS: Mapping[str, str] = {
    "menu": "menu", "main menu": "menu", "hoofdmenu": "menu", "hauptmenu": "menu",
    "menu principal": "menu", "inicio": "menu", "start menu": "menu",
    "cancel": "cancel", "stop flow": "cancel", "annuleren": "cancel", "abbrechen": "cancel", "annuler": "cancel",
    "cancelar": "cancel",
    "help": "help", "hulp": "help", "hilfe": "help", "aide": "help", "ayuda": "help", "ajuda": "help",
    "agent": "agent", "human": "agent", "person": "agent", "a person": "agent", "talk to a person": "agent",
    "medewerker": "agent", "mens": "agent", "mitarbeiter": "agent", "mensch": "agent", "conseiller": "agent",
    "humain": "agent", "agente": "agent", "persona": "agent", "humano": "agent", "atendente": "agent",
    "pessoa": "agent",
}  # fmt: skip
# Typed words (folded) naming a global intent, in every language; a flow declares the intent it serves.
INTENT_NAMES = ("order", "appointment", "balance")
INTENTS: Mapping[str, str] = {
    "order": "order", "orders": "order", "my order": "order", "my orders": "order", "where is my order": "order",
    "bestelling": "order", "bestellingen": "order", "mijn bestelling": "order", "bestellung": "order",
    "bestellungen": "order", "meine bestellung": "order", "commande": "order", "commandes": "order",
    "ma commande": "order", "mes commandes": "order", "pedido": "order", "pedidos": "order",
    "mi pedido": "order", "mis pedidos": "order", "meu pedido": "order", "meus pedidos": "order",
    "appointment": "appointment", "appointments": "appointment", "my appointments": "appointment",
    "booking": "appointment", "book": "appointment", "afspraak": "appointment", "afspraken": "appointment",
    "termin": "appointment", "termine": "appointment", "rendez vous": "appointment", "rdv": "appointment",
    "cita": "appointment", "citas": "appointment", "mis citas": "appointment", "reserva": "appointment",
    "agendamento": "appointment", "agendamentos": "appointment", "agendar": "appointment",
    "balance": "balance", "my balance": "balance", "account balance": "balance", "saldo": "balance",
    "mijn saldo": "balance", "kontostand": "balance", "guthaben": "balance", "solde": "balance",
    "mon solde": "balance", "mi saldo": "balance", "meu saldo": "balance",
}  # fmt: skip
_SEPARATORS = re.compile(r"[\s_\-'\u2019.,!?¡¿:;\"()]+")


def fold(text: str) -> str:
    """Case, accents, punctuation and spacing folded away: 'Menú', 'MENU!' and 'menu' compare plainly."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", bare).strip()


def command(text: str) -> str | None:
    """The command a typed text is (``menu``, ``cancel``, ``help``, ``agent``), in any of the six languages."""
    return COMMANDS.get(fold(text))


def pick_language(available: Mapping[str, object] | tuple[str, ...], language: str | None) -> str | None:
    """Which of `available` suits `language`: itself, else one of its base language, else English, else the first."""
    keys = list(available)
    if not keys:
        return None
    wanted = (language or DEFAULT).replace("-", "_")
    if wanted in keys:
        return wanted
    base = wanted.split("_")[0]
    for key in keys:
        if key.split("_")[0] == base:
            return key
    return DEFAULT if DEFAULT in keys else keys[0]


def message(key: str, language: str | None) -> str:
    """One of the engine's own messages in the contact's language (English when it has none in theirs)."""
    texts = MESSAGES[key]
    return texts[pick_language(texts, language) or DEFAULT]
