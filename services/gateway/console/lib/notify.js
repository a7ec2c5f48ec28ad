// Announcements that reach the agent in any section, or in another browser tab: a short sound (Web Audio,
// no file) and a desktop notification (Notification API, permission asked once, on the login click).

let audio = null;

export function beep() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [[0, 880], [1, 1175]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.17);
    }
  } catch { /* no audio device: the notification and the on-screen alert remain */ }
}

// Ask once per browser (the answer is the browser's to keep); call it from a user gesture.
export function askPermissionOnce() {
  if (typeof Notification === "undefined" || Notification.permission !== "default") return;
  if (localStorage.getItem("sb.notifyAsked")) return;
  localStorage.setItem("sb.notifyAsked", "1");
  Notification.requestPermission().catch(() => {});
}

// Sound, and a desktop notification (clicking it brings the console forward and runs onClick).
export function announce(title, body, onClick) {
  beep();
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return null;
  const n = new Notification(title, { body, tag: title + body });
  n.onclick = () => { window.focus(); if (onClick) onClick(); n.close(); };
  return n;
}
