// The app's words in English or Japanese, the portal's two languages. The
// language is, in this order: ?lang= on the app's address (the portal's QR code
// and the app's own switch carry it), the portal's language cookie on this server,
// the app's last choice (kept, so the app opens offline in it), the phone's
// preference. t("text {name}", {name}) looks the English text up and fills in
// the values; translatePage() does the same for every element of index.html
// marked data-i18n.

const JA = {
  "Waiting logins": "承認待ちのログイン",
  "Get a response": "レスポンスを表示",
  "Key the challenge the login page shows under “Didn't get a notification?”. This works without a network.":
    "ログイン画面の「通知が届きませんか？」に表示されるチャレンジを入力してください。通信できない状態でも使えます。",
  "For {who}.": "{who} 用",
  "PIN": "暗証番号",
  "Challenge": "チャレンジ",
  "Show response": "レスポンスを表示",
  "Response": "レスポンス",
  "Close": "閉じる",
  "Accounts": "アカウント",
  "No account yet: add one with the QR code from the portal.": "アカウントがありません。ポータルのQRコードで追加してください。",
  "Add account": "アカウントを追加",
  "In the portal, choose “Add mobile authenticator”, then scan its QR code or type its code.":
    "ポータルで「モバイル認証アプリを追加」を選び、表示されたQRコードを読み取るか、コードを入力してください。",
  "Scan QR code": "QRコードを読み取る",
  "Camera": "カメラ",
  "Activation code": "利用開始コード",
  "Server": "サーバー",
  "Activate": "利用開始",
  "Choose a PIN": "暗証番号の設定",
  "Four digits. The phone does not keep it: you key it for every login, and a wrong one fails the login.":
    "4桁の数字です。スマートフォンには保存されません。ログインのたびに入力し、間違えるとログインは失敗します。",
  "PIN again": "暗証番号（確認）",
  "Finish activation": "利用開始を完了",
  "Removed {user} ({serial})": "{user}（{serial}）を削除しました",
  "Nothing was removed: the server could not be told.": "サーバーに伝えられなかったため、何も削除していません。",
  "Remove {user} ({serial}) from this phone? Its server will no longer ask this phone to approve logins.":
    "{user}（{serial}）をこのスマートフォンから削除しますか？サーバーはこのスマートフォンにログインの承認を求めなくなります。",
  "The server could not be told, so it may still ask this phone to approve logins. Remove {user} ({serial}) from this phone anyway?":
    "サーバーに伝えられなかったため、このスマートフォンにログインの承認を求め続けるかもしれません。それでも{user}（{serial}）をこのスマートフォンから削除しますか？",
  "Remove": "削除",
  "no longer active": "利用できません",
  "The activation code has 8 letters and digits.": "利用開始コードは英数字8文字です。",
  "The server must be an address such as https://login.example.com.": "サーバーは https://login.example.com のようなアドレスで入力してください。",
  "Activating…": "利用開始中…",
  "This activation code is not valid: it may be used or expired. Make a new one in the portal.":
    "この利用開始コードは無効です。使用済みか期限切れの可能性があります。ポータルで新しいコードを発行してください。",
  "The activation failed.": "利用開始に失敗しました。",
  "{problem} Start again with a new code.": "{problem} 新しいコードでやり直してください。",
  "Choose a PIN for {user}.": "{user} の暗証番号を設定してください。",
  "The activation failed: the server could not be reached or answered wrongly.": "利用開始に失敗しました。サーバーに接続できないか、応答が正しくありません。",
  "The activation failed: the server could not be reached.": "利用開始に失敗しました。サーバーに接続できません。",
  "The PIN must be 4 to 8 digits.": "暗証番号は4～8桁の数字です。",
  "The two PINs differ.": "2つの暗証番号が一致しません。",
  "Activated {user} ({serial})": "{user}（{serial}）の利用を開始しました",
  "This browser cannot use the camera here: type the code.": "このブラウザーではカメラを使えません。コードを入力してください。",
  "The camera is not available: type the code instead.": "カメラを使えません。コードを入力してください。",
  "Point the camera at the QR code in the portal.": "ポータルのQRコードにカメラを向けてください。",
  "Login request for {user}": "{user} のログイン",
  "Withdrawal request for {user}": "{user} の出金",
  "Online card request for {user}": "{user} のオンラインカード発行",
  "PIN change for {user}": "{user} の暗証番号変更",
  "Enter the NEW PIN you chose in the portal, not the old one.": "古い暗証番号ではなく、ポータルで決めた新しい暗証番号を入力してください。",
  "New PIN": "新しい暗証番号",
  "Request for {user}": "{user} の確認",
  "From {origin}, at {time}": "{origin} から、{time}",
  "an unknown place": "不明な場所",
  "Amount {amount}": "金額 {amount}",
  "Pick the number shown on the login page": "ログイン画面に表示された番号を選んでください",
  "Approve": "承認",
  "Decline": "拒否",
  "Pick the number the login page shows.": "ログイン画面に表示された番号を選んでください。",
  "Enter your PIN: 4 to 8 digits.": "暗証番号（4～8桁）を入力してください。",
  "The server could not be reached. Use “Get a response” and type it on the login page.":
    "サーバーに接続できません。「レスポンスを表示」を使い、ログイン画面に入力してください。",
  "Approved": "承認しました",
  "Declined": "拒否しました",
  "The account is locked: contact the help desk.": "アカウントがロックされています。ヘルプデスクにお問い合わせください。",
  "The login failed: wrong number or PIN.": "ログインに失敗しました。番号または暗証番号が違います。",
  "The login failed: wrong number or PIN. Tries left for this request: {n}.":
    "ログインに失敗しました。番号または暗証番号が違います。このリクエストの残り入力回数: {n}回",
  "The login could not be answered: it may have expired.": "このログインには応答できませんでした。期限切れの可能性があります。",
  "The challenge has 6 digits.": "チャレンジは6桁の数字です。",
  "Type this response on the login page.": "このレスポンスをログイン画面に入力してください。",
  "No response could be computed: {why}": "レスポンスを計算できません: {why}",
  "Language": "言語",
  "To {destination}": "振込先 {destination}",
  "Approving signs this amount and destination: check both against the withdrawal you intend.":
    "承認すると、この金額と振込先に署名します。意図した出金と両方が一致するか確認してください。",
  "A withdrawal: sign its amount and destination": "出金：金額と振込先に署名する",
  "Key them from the withdrawal you intend, not only from the page.": "画面の表示だけでなく、意図した出金の内容から入力してください。",
  "Amount": "金額",
  "Destination account digits": "振込先口座番号（数字）",
  "The amount is 1 to 12 digits, without separators.": "金額は区切りなしの1～12桁の数字です。",
  "The destination account digits are 1 to 8 digits.": "振込先口座番号は1～8桁の数字です。",
  "Type this signature on the withdrawal page.": "この署名を出金画面に入力してください。",
  "The withdrawal was refused: wrong number or PIN, or its amount or destination was changed on the way.":
    "出金は拒否されました。番号または暗証番号が違うか、途中で金額または振込先が書き換えられました。",
  "The withdrawal was refused: wrong number or PIN, or its amount or destination was changed on the way. Tries left for this request: {n}.":
    "出金は拒否されました。番号または暗証番号が違うか、途中で金額または振込先が書き換えられました。このリクエストの残り入力回数: {n}回",
};

const LANGUAGES = ["en", "ja"];
const COOKIE = "dsc_lang";  // the portal's (host/portal/i18n.py)
const KEPT = "opendsc-mobile-lang";  // localStorage

function known(tag) { return LANGUAGES.includes(tag) ? tag : null; }

function phone() {
  const tags = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  return String(tags[0]).toLowerCase().startsWith("ja") ? "ja" : "en";
}

function kept() {
  try { return known(localStorage.getItem(KEPT)); } catch (e) { return null; }  // storage may be off
}

function cookie() {
  const found = /(?:^|;\s*)dsc_lang=([a-z]+)/.exec(document.cookie);
  return known(found && found[1]);
}

function choose() {
  const asked = known(new URLSearchParams(location.search).get("lang"));
  const chosen = asked || cookie() || kept() || phone();
  try { localStorage.setItem(KEPT, chosen); } catch (e) { /* then the next start asks again */ }
  if (asked) {  // the portal on this server follows the choice too, as its own switch would
    document.cookie = COOKIE + "=" + asked + "; path=/; max-age=31536000; samesite=strict"
      + (location.protocol === "https:" ? "; secure" : "");
  }
  return chosen;
}

export const lang = choose();

export function t(text, values = {}) {
  const found = lang === "ja" && JA[text] ? JA[text] : text;
  return found.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
}

export function translatePage() {
  document.documentElement.lang = lang;
  for (const link of document.querySelectorAll("a[hreflang]")) {  // the switch: the current language is no link
    if (link.hreflang === lang) { link.setAttribute("aria-current", "true"); link.removeAttribute("href"); }
  }
  if (lang === "en") { return; }
  for (const node of document.querySelectorAll("[data-i18n]")) { node.textContent = t(node.textContent.trim()); }
  for (const node of document.querySelectorAll("[aria-label]")) { node.setAttribute("aria-label", t(node.getAttribute("aria-label"))); }
}
