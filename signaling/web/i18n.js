// Interface text in English, French and German. Announcements are not here:
// they come from the jurisdiction's notice in `welcome`.

const TEXT = {
  en: {
    title: 'Parley video visit',
    call: 'Call',
    call_controls: 'Call controls',
    language: 'Language',
    check_title: 'Before you join',
    check_camera: 'Camera',
    check_microphone: 'Microphone',
    check_connection: 'Connection to Parley',
    checking: 'checking…',
    ok: 'working',
    failed: 'not working',
    not_needed: 'not needed',
    denied: 'Access to the camera or microphone was refused. Allow it in your browser\'s site settings, then press “Try again”.',
    no_device: 'No camera or microphone was found. Plug one in, then press “Try again”.',
    device_error: 'The camera or microphone cannot be used: {msg}',
    offline: 'Parley cannot be reached. Check your internet connection, then press “Try again”.',
    try_again: 'Try again',
    join: 'Join',
    no_token: 'This link is incomplete: it has no join token. Use the whole link you were sent.',
    waiting_title: 'Waiting to start',
    waiting_visit: 'You are in the waiting room. The visit starts at {time}.',
    waiting_hearing: 'You are in the waiting room. The court will let you in.',
    starts_in: 'Starts in {left}',
    connecting: 'Connecting…',
    reconnecting: 'Connection lost. Reconnecting…',
    media_reconnecting: 'Video connection lost. Reconnecting…',
    time_left: 'Time left',
    ends_at: 'Ends at {time}',
    warning: '{n} minute(s) left. The session ends at {time}.',
    extended: 'The session was extended. It now ends at {time}.',
    recorded: 'This session is recorded.',
    monitored: 'Staff may watch this session live.',
    recorded_monitored: 'This session is recorded, and staff may watch it live.',
    private: 'This session is not recorded and not monitored.',
    why: 'Why?',
    mute: 'Mute microphone',
    unmute: 'Unmute microphone',
    camera_off: 'Turn camera off',
    camera_on: 'Turn camera on',
    leave: 'Leave',
    enable_sound: 'Turn on sound',
    you: 'You',
    waiting_for_video: 'Waiting for video…',
    participants: 'People in this session',
    in_lobby: 'waiting',
    admitted: 'in the session',
    speaking: 'speaking',
    captions: 'Captions',
    captions_label: 'Type a line of captions, then press Enter',
    send: 'Send',
    hearing_controls: 'Hearing controls',
    lobby: 'Waiting room',
    lobby_empty: 'Nobody is waiting.',
    admit: 'Admit',
    admit_label: 'Admit {name} ({role})',
    remove: 'Remove',
    remove_label: 'Remove {name} ({role})',
    mute: 'Mute',
    unmute: 'Unmute',
    muted: 'muted by the court',
    mute_label: 'Mute {name} ({role}) for everyone',
    unmute_label: 'Unmute {name} ({role})',
    reason: 'Reason',
    extend: 'Extend',
    extend_minutes: 'Minutes to add',
    end_session: 'End the session',
    end_visit: 'End this visit',
    monitoring_banner: 'You are monitoring this visit. You are hidden and receive only.',
    ended_title: 'The session has ended',
    ended_scheduled_end: 'The time booked for this session is over.',
    ended_ended_by_staff: 'A member of staff ended the session. Their reason:',
    ended_removed: 'The court removed you from the hearing. The reason given:',
    ended_cancelled: 'The session was cancelled. The reason given:',
    ended_left: 'You left the session.',
    ended_elsewhere: 'You joined from another window or device, so this window was closed.',
    rejoin: 'Join again',
    back_to_console: 'Back to the officer console',
    error_title: 'You cannot join',
    error_generic: 'Something went wrong: {msg}',
    role_judge: 'Judge', role_clerk: 'Clerk', role_prosecutor: 'Prosecutor', role_counsel: 'Counsel',
    role_defendant: 'Defendant', role_interpreter: 'Interpreter', role_witness: 'Witness',
    role_observer: 'Observer', role_detainee: 'Detainee', role_visitor: 'Visitor', role_officer: 'Officer',
    kind_social_visit: 'Social visit', kind_legal_visit: 'Legal visit', kind_court_hearing: 'Court hearing',
    kind_consultation: 'Consultation',
    officer_title: 'Officer console',
    api_token: 'Your Parley API token',
    sign_in: 'Show sessions',
    live_sessions: 'Sessions now',
    none_live: 'No session of your facility is under way.',
    refresh: 'Refresh',
    kind: 'Kind', people: 'People', time_left_col: 'Time left', actions: 'Actions',
    monitor: 'Monitor',
    monitor_label: 'Monitor session {id} ({kind})',
    privileged: 'Privileged: never monitored',
    end: 'End',
    end_label: 'End session {id} with the reason typed',
    ended_ok: 'Session {id} was ended.',
    refused: 'Refused: {msg}',
    signed_in_as: 'Signed in as {name} ({role}).',
  },
  fr: {
    title: 'Parley – visite vidéo',
    call: 'Appel',
    call_controls: 'Commandes de l\'appel',
    language: 'Langue',
    check_title: 'Avant de rejoindre',
    check_camera: 'Caméra',
    check_microphone: 'Micro',
    check_connection: 'Connexion à Parley',
    checking: 'vérification…',
    ok: 'fonctionne',
    failed: 'ne fonctionne pas',
    not_needed: 'inutile',
    denied: 'L\'accès à la caméra ou au micro a été refusé. Autorisez-le dans les réglages du site de votre navigateur, puis appuyez sur « Réessayer ».',
    no_device: 'Aucune caméra ni aucun micro trouvé. Branchez-en un, puis appuyez sur « Réessayer ».',
    device_error: 'La caméra ou le micro ne peut pas être utilisé : {msg}',
    offline: 'Parley est injoignable. Vérifiez votre connexion internet, puis appuyez sur « Réessayer ».',
    try_again: 'Réessayer',
    join: 'Rejoindre',
    no_token: 'Ce lien est incomplet : il ne contient pas de jeton. Utilisez le lien complet reçu.',
    waiting_title: 'En attente',
    waiting_visit: 'Vous êtes en salle d\'attente. La visite commence à {time}.',
    waiting_hearing: 'Vous êtes en salle d\'attente. Le tribunal va vous faire entrer.',
    starts_in: 'Début dans {left}',
    connecting: 'Connexion…',
    reconnecting: 'Connexion perdue. Reconnexion…',
    media_reconnecting: 'Connexion vidéo perdue. Reconnexion…',
    time_left: 'Temps restant',
    ends_at: 'Fin à {time}',
    warning: 'Plus que {n} minute(s). La séance se termine à {time}.',
    extended: 'La séance a été prolongée. Elle se termine maintenant à {time}.',
    recorded: 'Cette séance est enregistrée.',
    monitored: 'Le personnel peut suivre cette séance en direct.',
    recorded_monitored: 'Cette séance est enregistrée et le personnel peut la suivre en direct.',
    private: 'Cette séance n\'est ni enregistrée ni surveillée.',
    why: 'Pourquoi ?',
    mute: 'Couper le micro',
    unmute: 'Réactiver le micro',
    camera_off: 'Couper la caméra',
    camera_on: 'Activer la caméra',
    leave: 'Quitter',
    enable_sound: 'Activer le son',
    you: 'Vous',
    waiting_for_video: 'En attente de la vidéo…',
    participants: 'Personnes présentes',
    in_lobby: 'en attente',
    admitted: 'dans la séance',
    speaking: 'parle',
    captions: 'Sous-titres',
    captions_label: 'Saisissez une ligne de sous-titres, puis appuyez sur Entrée',
    send: 'Envoyer',
    hearing_controls: 'Conduite de l\'audience',
    lobby: 'Salle d\'attente',
    lobby_empty: 'Personne n\'attend.',
    admit: 'Faire entrer',
    admit_label: 'Faire entrer {name} ({role})',
    remove: 'Exclure',
    remove_label: 'Exclure {name} ({role})',
    mute: 'Couper le son',
    unmute: 'Rétablir le son',
    muted: 'son coupé par le tribunal',
    mute_label: 'Couper le son de {name} ({role}) pour tous',
    unmute_label: 'Rétablir le son de {name} ({role})',
    reason: 'Motif',
    extend: 'Prolonger',
    extend_minutes: 'Minutes à ajouter',
    end_session: 'Terminer la séance',
    end_visit: 'Terminer cette visite',
    monitoring_banner: 'Vous surveillez cette visite. Vous êtes invisible et ne faites que recevoir.',
    ended_title: 'La séance est terminée',
    ended_scheduled_end: 'Le temps réservé pour cette séance est écoulé.',
    ended_ended_by_staff: 'Un membre du personnel a mis fin à la séance. Motif :',
    ended_removed: 'Le tribunal vous a exclu de l\'audience. Motif :',
    ended_cancelled: 'La séance a été annulée. Motif :',
    ended_left: 'Vous avez quitté la séance.',
    ended_elsewhere: 'Vous avez rejoint depuis une autre fenêtre ou un autre appareil ; cette fenêtre a été fermée.',
    rejoin: 'Rejoindre à nouveau',
    back_to_console: 'Retour à la console de l\'agent',
    error_title: 'Impossible de rejoindre',
    error_generic: 'Une erreur s\'est produite : {msg}',
    role_judge: 'Juge', role_clerk: 'Greffier', role_prosecutor: 'Procureur', role_counsel: 'Avocat',
    role_defendant: 'Prévenu', role_interpreter: 'Interprète', role_witness: 'Témoin',
    role_observer: 'Observateur', role_detainee: 'Personne détenue', role_visitor: 'Visiteur', role_officer: 'Agent',
    kind_social_visit: 'Visite familiale', kind_legal_visit: 'Visite d\'avocat', kind_court_hearing: 'Audience',
    kind_consultation: 'Entretien',
    officer_title: 'Console de l\'agent',
    api_token: 'Votre jeton d\'API Parley',
    sign_in: 'Afficher les séances',
    live_sessions: 'Séances en cours',
    none_live: 'Aucune séance de votre établissement n\'est en cours.',
    refresh: 'Actualiser',
    kind: 'Type', people: 'Personnes', time_left_col: 'Temps restant', actions: 'Actions',
    monitor: 'Surveiller',
    monitor_label: 'Surveiller la séance {id} ({kind})',
    privileged: 'Protégée : jamais surveillée',
    end: 'Terminer',
    end_label: 'Terminer la séance {id} avec le motif saisi',
    ended_ok: 'La séance {id} est terminée.',
    refused: 'Refusé : {msg}',
    signed_in_as: 'Connecté : {name} ({role}).',
  },
  de: {
    title: 'Parley – Videobesuch',
    call: 'Anruf',
    call_controls: 'Anrufsteuerung',
    language: 'Sprache',
    check_title: 'Bevor Sie beitreten',
    check_camera: 'Kamera',
    check_microphone: 'Mikrofon',
    check_connection: 'Verbindung zu Parley',
    checking: 'wird geprüft…',
    ok: 'funktioniert',
    failed: 'funktioniert nicht',
    not_needed: 'nicht nötig',
    denied: 'Der Zugriff auf Kamera oder Mikrofon wurde verweigert. Erlauben Sie ihn in den Website-Einstellungen Ihres Browsers und drücken Sie dann „Erneut versuchen“.',
    no_device: 'Keine Kamera und kein Mikrofon gefunden. Schließen Sie eines an und drücken Sie dann „Erneut versuchen“.',
    device_error: 'Kamera oder Mikrofon können nicht verwendet werden: {msg}',
    offline: 'Parley ist nicht erreichbar. Prüfen Sie Ihre Internetverbindung und drücken Sie dann „Erneut versuchen“.',
    try_again: 'Erneut versuchen',
    join: 'Beitreten',
    no_token: 'Dieser Link ist unvollständig: Ihm fehlt das Zugangstoken. Verwenden Sie den vollständigen Link, den Sie erhalten haben.',
    waiting_title: 'Warten auf den Beginn',
    waiting_visit: 'Sie sind im Warteraum. Der Besuch beginnt um {time}.',
    waiting_hearing: 'Sie sind im Warteraum. Das Gericht lässt Sie eintreten.',
    starts_in: 'Beginn in {left}',
    connecting: 'Verbindung wird hergestellt…',
    reconnecting: 'Verbindung verloren. Neue Verbindung wird hergestellt…',
    media_reconnecting: 'Videoverbindung verloren. Neue Verbindung wird hergestellt…',
    time_left: 'Verbleibende Zeit',
    ends_at: 'Ende um {time}',
    warning: 'Noch {n} Minute(n). Die Sitzung endet um {time}.',
    extended: 'Die Sitzung wurde verlängert. Sie endet jetzt um {time}.',
    recorded: 'Diese Sitzung wird aufgezeichnet.',
    monitored: 'Das Personal kann diese Sitzung live verfolgen.',
    recorded_monitored: 'Diese Sitzung wird aufgezeichnet, und das Personal kann sie live verfolgen.',
    private: 'Diese Sitzung wird weder aufgezeichnet noch überwacht.',
    why: 'Warum?',
    mute: 'Mikrofon stummschalten',
    unmute: 'Mikrofon einschalten',
    camera_off: 'Kamera ausschalten',
    camera_on: 'Kamera einschalten',
    leave: 'Verlassen',
    enable_sound: 'Ton einschalten',
    you: 'Sie',
    waiting_for_video: 'Warten auf Video…',
    participants: 'Personen in dieser Sitzung',
    in_lobby: 'wartet',
    admitted: 'in der Sitzung',
    speaking: 'spricht',
    captions: 'Untertitel',
    captions_label: 'Eine Zeile Untertitel eingeben und Enter drücken',
    send: 'Senden',
    hearing_controls: 'Verhandlungsleitung',
    lobby: 'Warteraum',
    lobby_empty: 'Niemand wartet.',
    admit: 'Einlassen',
    admit_label: '{name} ({role}) einlassen',
    remove: 'Ausschließen',
    remove_label: '{name} ({role}) ausschließen',
    mute: 'Stummschalten',
    unmute: 'Ton freigeben',
    muted: 'vom Gericht stummgeschaltet',
    mute_label: '{name} ({role}) für alle stummschalten',
    unmute_label: 'Ton von {name} ({role}) freigeben',
    reason: 'Grund',
    extend: 'Verlängern',
    extend_minutes: 'Minuten hinzufügen',
    end_session: 'Sitzung beenden',
    end_visit: 'Diesen Besuch beenden',
    monitoring_banner: 'Sie überwachen diesen Besuch. Sie sind unsichtbar und empfangen nur.',
    ended_title: 'Die Sitzung ist beendet',
    ended_scheduled_end: 'Die für diese Sitzung gebuchte Zeit ist abgelaufen.',
    ended_ended_by_staff: 'Ein Mitglied des Personals hat die Sitzung beendet. Grund:',
    ended_removed: 'Das Gericht hat Sie von der Verhandlung ausgeschlossen. Angegebener Grund:',
    ended_cancelled: 'Die Sitzung wurde abgesagt. Angegebener Grund:',
    ended_left: 'Sie haben die Sitzung verlassen.',
    ended_elsewhere: 'Sie sind in einem anderen Fenster oder auf einem anderen Gerät beigetreten; dieses Fenster wurde geschlossen.',
    rejoin: 'Erneut beitreten',
    back_to_console: 'Zurück zur Konsole',
    error_title: 'Beitritt nicht möglich',
    error_generic: 'Etwas ist schiefgegangen: {msg}',
    role_judge: 'Richter/in', role_clerk: 'Urkundsbeamt/in', role_prosecutor: 'Staatsanwaltschaft', role_counsel: 'Verteidigung',
    role_defendant: 'Angeklagte/r', role_interpreter: 'Dolmetscher/in', role_witness: 'Zeug/in',
    role_observer: 'Beobachter/in', role_detainee: 'Inhaftierte Person', role_visitor: 'Besucher/in', role_officer: 'Bedienstete/r',
    kind_social_visit: 'Privatbesuch', kind_legal_visit: 'Anwaltsbesuch', kind_court_hearing: 'Gerichtsverhandlung',
    kind_consultation: 'Beratung',
    officer_title: 'Konsole für Bedienstete',
    api_token: 'Ihr Parley-API-Token',
    sign_in: 'Sitzungen anzeigen',
    live_sessions: 'Laufende Sitzungen',
    none_live: 'In Ihrer Einrichtung läuft gerade keine Sitzung.',
    refresh: 'Aktualisieren',
    kind: 'Art', people: 'Personen', time_left_col: 'Verbleibende Zeit', actions: 'Aktionen',
    monitor: 'Überwachen',
    monitor_label: 'Sitzung {id} ({kind}) überwachen',
    privileged: 'Vertraulich: wird nie überwacht',
    end: 'Beenden',
    end_label: 'Sitzung {id} mit dem eingegebenen Grund beenden',
    ended_ok: 'Sitzung {id} wurde beendet.',
    refused: 'Abgelehnt: {msg}',
    signed_in_as: 'Angemeldet als {name} ({role}).',
  },
};

export const LANGUAGES = [['en', 'English'], ['fr', 'Français'], ['de', 'Deutsch']];

let lang = 'en';

let chosen = false;

/// The language: `?lang=`, else a saved choice, else the browser's, else English.
export function initLang() {
  const asked = new URLSearchParams(location.search).get('lang') || localStorage.getItem('parley.lang');
  chosen = !!asked && !!TEXT[asked];
  setLang(asked || (navigator.language || 'en').slice(0, 2), false);
  return lang;
}

/// Once the session's jurisdiction is known: if the person has not chosen a
/// language and the browser's is not one of the jurisdiction's (`codes`, in
/// its order), use the jurisdiction's first language the interface has.
export function preferJurisdiction(codes) {
  if (chosen || codes.includes(lang)) return;
  const first = codes.find((c) => TEXT[c]);
  if (first) setLang(first, false);
}

/// Switches the interface to `code`; `remember` keeps it as the person's choice.
export function setLang(code, remember = true) {
  lang = TEXT[code] ? code : 'en';
  document.documentElement.lang = lang;
  if (remember) {
    chosen = true;
    try { localStorage.setItem('parley.lang', lang); } catch { /* private mode */ }
  }
  apply(document);
  const picker = document.getElementById('lang');
  if (picker) picker.value = lang;
}

export function currentLang() {
  return lang;
}

/// The text for `key` with `{name}` placeholders filled from `vars`.
export function t(key, vars = {}) {
  const s = TEXT[lang][key] ?? TEXT.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

export function role(r) {
  return t(`role_${r}`);
}

/// Fills `data-i18n` (text) and `data-i18n-label` (aria-label) under `root`.
export function apply(root) {
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-label]').forEach((el) => { el.setAttribute('aria-label', t(el.dataset.i18nLabel)); });
  document.title = t(document.body?.dataset.titleKey || 'title');
}

/// A language selector bound to `select`.
export function languagePicker(select) {
  select.replaceChildren(...LANGUAGES.map(([code, name]) => {
    const o = document.createElement('option');
    o.value = code;
    o.textContent = name;
    o.selected = code === lang;
    return o;
  }));
  select.addEventListener('change', () => {
    setLang(select.value);
    select.dispatchEvent(new CustomEvent('parley-lang', { bubbles: true }));
  });
}
