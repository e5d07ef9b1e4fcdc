/**
 * Every number that tunes a transfer, in one place, each with what chose it.
 * The signaling server's own limits live in `lib/http/config.ts`.
 *
 * Measurements are in `bench/README.md` ("Transfer benchmark"), made with
 * `deno task bench:transfer`; where a value was a judgement rather than a
 * measurement, the comment says so.
 *
 * @module
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Bytes per data-channel message. Chromium takes messages up to 256 KiB
 * (`sctp.maxMessageSize`); the largest message moves the most per unit of
 * per-message work: 256 KiB against 64 KiB chunks on the raw channel
 * (bench/README.md, Transfer, "raw data channel") and `lab-chunk-256KiB`.
 * The session sends `min(CHUNK_BYTES, maxMessageSize)`.
 */
export const CHUNK_BYTES = 256 * KiB;

/**
 * The chunk when the peer states no `maxMessageSize`: 64 KiB is what every
 * browser has accepted since the data channel's first versions.
 */
export const FALLBACK_CHUNK_BYTES = 64 * KiB;

/**
 * Bytes per read of a file on the sender, sent as several messages: each
 * read is a round trip to the browser process. `lab-read-256KiB` 78.5 ms/MB
 * against 75.8 with 1 MiB reads.
 */
export const READ_BYTES = 1 * MiB;

/**
 * Stop sending while the channel buffers more than this. 4 MiB
 * (`lab-high-4MiB`, 75.0 ms/MB) was within noise of 1 MiB (75.8), and more
 * buffer is more memory in the page.
 */
export const HIGH_WATER_BYTES = 1 * MiB;

/** Resume sending when the channel's buffer falls to this (see above). */
export const LOW_WATER_BYTES = 256 * KiB;

/**
 * Most bytes sent but not yet acknowledged as written: a slow disk on the
 * receiver stops the sender instead of filling the receiver's memory. 8 MiB
 * made no difference to memory or speed on loopback (RSS 100.9 against
 * 100.5 MB); 16 MiB leaves room for a long path's bandwidth × delay.
 */
export const WINDOW_BYTES = 16 * MiB;

/**
 * The receiver acknowledges after this many newly written bytes: a
 * sixteenth of the window, so acknowledgements never hold the sender up,
 * and one small message per megabyte costs nothing measurable.
 */
export const ACK_BYTES = 1 * MiB;

/**
 * How long one connection attempt may take, from the offer to an open data
 * channel, before it counts as failed. A judgement: ICE with a relay takes a
 * few seconds at worst on real networks; 15 s leaves room for a slow TURN
 * allocation without leaving a person waiting on a dead path for long.
 */
export const CONNECT_TIMEOUT_MS = 15_000;

/**
 * How much longer than `CONNECT_TIMEOUT_MS` the receiver waits for a
 * connection. The sender decides when an attempt has failed (it sends
 * `retry` when its own timer fires); the receiver's timer is the backstop
 * for a sender that went silent, so it must not fire first. 5 s covers a
 * slow signaling round trip with room to spare.
 */
export const CONNECT_GRACE_MS = 5_000;

/**
 * How long the receiver waits for the sender's `response` to a `request`.
 * A sender page that is open answers within a round trip; one that is
 * frozen (a background tab, a sleeping laptop) may never answer.
 */
export const REQUEST_TIMEOUT_MS = 15_000;

/**
 * How long a receiver keeps asking a sender that the server says is not
 * connected (`peer not exists`) before it says the link is no longer
 * active. A sender's page reconnects by itself after a server restart or
 * a network change and takes its id back (docs/protocol.md, "Reclaiming an
 * id"), so for a while "not connected" may mean "coming back"; the server
 * cannot tell a sender that left from one on its way back after a restart.
 */
export const SENDER_AWAY_MS = 60_000;

/**
 * While waiting for `response`, the receiver asks again this often: a
 * sender under a flood of requests answers at a pace (`ANSWERS_PER_SECOND`)
 * and drops what it cannot answer, so one unanswered request must not
 * cost the whole `REQUEST_TIMEOUT_MS`.
 */
export const ASK_AGAIN_MS = 3_000;

/**
 * Connection attempts in a row without progress before the receiver gives
 * up. An attempt that moved bytes resets the count: the path works.
 */
export const MAX_ATTEMPTS = 4;

/**
 * After ICE reports `disconnected`, how long to wait for it to recover
 * before closing the channel and resuming on a new connection. A network
 * that vanished leaves the channel open for a long while (SCTP's own
 * timeout is ~30 s); Chromium moves to `disconnected` after ~5 s of
 * silence, so this adds a few seconds of grace for a brief loss.
 */
export const ICE_GRACE_MS = 4_000;

/**
 * How long nothing may move, while the sender waits on a receiver (bytes
 * sent and not acknowledged, or the channel's buffer not empty), before the
 * sender calls it stalled: no acknowledgement and no drain of
 * `bufferedAmount` for this long. A judgement on two measured facts: a
 * closed tab leaves the sender's channel open (it never fires `close`) with
 * its buffer frozen, and Chromium's ICE says `disconnected` ~7 s after (in
 * headless Chromium here, 7.0 s; `failed` at 18 s). Known stalled by then,
 * the receiver counts as left as soon as ICE says so, instead of after
 * `ICE_GRACE_MS` more. Shorter would call a hiccup a stall: a live
 * receiver drains the buffer continuously and acknowledges each `ACK_BYTES`
 * (a second per megabyte on a 1 MB/s path). A stall alone (ICE still in
 * touch: a live page with a slow disk) only stops showing speed and time.
 */
export const STALL_MS = 5_000;

/**
 * How long the sender keeps a receiver whose connection broke (waiting for
 * it to ask again and resume) before it shows "The receiver left" and
 * forgets it.
 */
export const RECEIVER_GONE_MS = 60_000;

/**
 * How often progress is reported to the sender and rendered on the page:
 * a render costs a layout and a frame, so four times a second, not once per
 * chunk (receive page 23.2 → 21 ms/MB with fewer renders).
 */
export const PROGRESS_INTERVAL_MS = 250;

/**
 * After `done`, how long the receiver keeps the peer connection before it
 * closes it: the last data-channel messages (the final acknowledgement)
 * must go out first.
 */
export const LINGER_MS = 1_000;

/**
 * When the sender stops sharing, how long at most it waits for the notice
 * to receivers ("sharing ended") to leave before it cuts their connections:
 * a receiver told why fails at once, one that only sees its channel close
 * waits `SENDER_AWAY_MS` for a sender that may be reconnecting. What is
 * queued before the notice is at most `HIGH_WATER_BYTES`.
 */
export const STOP_NOTICE_MS = 5_000;

/**
 * Receivers that asked for the file list but have not offered a connection
 * yet, at most: asking takes no key, so this bounds what a flood of
 * requests costs the sender (a sealed list each, and the sender's own rate
 * limit at the server). A real receiver offers within a round trip of the
 * answer, so a share opened by many people at once still fits.
 */
export const MAX_WAITING = 64;

/**
 * How many frames of answers to `request`s a sender sends per second, and
 * in a burst (an answer is one frame per page of the file list, most often
 * one). Each frame counts against the sender's own rate limit at the server
 * (`RATE_LIMIT` 100/s, `RATE_BURST` 400 by default, lib/http/config.ts),
 * which closes a page that exceeds it; half of that is left for the
 * connections being made. A share opened by forty people at once is
 * answered at once; a flood is answered at this pace and no faster.
 */
export const ANSWERS_PER_SECOND = 20;

/** See `ANSWERS_PER_SECOND`. */
export const ANSWER_BURST = 40;

/**
 * Finished receivers the sender's page keeps listed (done or failed); the
 * live state of each is dropped when it finishes, and the oldest rows go
 * past this count.
 */
export const FINISHED_ROWS = 50;

/**
 * The sealed file list is padded to a power of two of at least this many
 * bytes (after compression), so its length tells the server the list's
 * size only to within a factor of two, and nothing about a short list.
 * 1 KiB holds a few dozen typical compressed file entries.
 */
export const MANIFEST_MIN_BYTES = 1 * KiB;

/**
 * Bytes of the padded, compressed file list per `response` frame. A page
 * crosses the server as base64 in JSON, sealed, and again base64: 16 KiB
 * makes a ~29 KiB frame, well under the server's 64 KiB frame cap
 * (`DEFAULT_MAX_FRAME_BYTES`), which closes a sender that exceeds it; 32
 * KiB would make ~58 KiB, too close. A power of two, so every page of a
 * padded list is the same size.
 */
export const MANIFEST_PAGE_BYTES = 16 * KiB;

/**
 * Most pages in one file list (512 KiB compressed; 5,000 files with random
 * 20-character names take 256 KiB). All pages are sent at once: 32 make
 * ~930 KiB, under the 1 MiB the server lets wait for a receiver before it
 * closes it as not reading (`MAX_BUFFERED_BYTES`), and 32 frames of the
 * sender's 400-frame burst (`RATE_BURST`). A longer list is refused when
 * the share starts, with a message saying to share fewer files.
 */
export const MANIFEST_MAX_PAGES = 32;

/**
 * Most bytes the receiver inflates a file list to: a list that inflates
 * past it is refused instead of filling the page's memory. 64 MiB is ten
 * times what 50,000 files with long names take.
 */
export const MANIFEST_MAX_JSON_BYTES = 64 * MiB;

/**
 * Most files in one share. A judgement: a selection past it is almost
 * certainly a mistake (a whole disk), and its file list would not fit
 * `MANIFEST_MAX_PAGES` anyway; it is refused when the share starts.
 */
export const MAX_SHARED_FILES = 50_000;

/**
 * Bytes each sealed `progress` report is padded to before sealing, so that
 * its length does not tell the server how many digits the byte count has
 * (the share's size, once the last report is sent) or whether it is a
 * report or an error. The longest (an error with its text) is ~60 bytes.
 */
export const PROGRESS_PAD_BYTES = 128;

/**
 * Most connections one receive may use, the first included (parallel
 * connections, lanes.ts). Each is its own SCTP association with its own
 * congestion window: on a long path one window, not the link, sets the
 * speed (bench/README.md, "WAN benchmark"), and eight windows reach what
 * the benchmark's paths carry. More take more than their share of a link
 * others use; the `beam:lanes` setting (README) lowers it, 1 turning
 * parallel connections off.
 */
export const MAX_LANES = 8;

/**
 * After connections are added (or the transfer starts), how long before
 * the rate counts: a new association starts slowly (slow start takes about
 * seven round trips to fill a 100 Mbit/s path at 80 ms). A judgement.
 */
export const LANE_SETTLE_MS = 1_000;

/**
 * No connections are added over a path with a shorter round trip than this
 * (when the browser says how long it is): there one association's window
 * is not what limits the speed, and more connections only cost CPU (on
 * loopback, measured: bench/README.md, "WAN benchmark").
 */
export const LANE_MIN_RTT_MS = 10;

/**
 * A parallel connection whose send buffer has not moved for this long while
 * the sender waits on the receiver is set aside until its buffer drains,
 * and what it held is sent on the others. Measured (bench/README.md, "WAN
 * benchmark"): a connection in retransmission timeouts sent at 0.01 MB/s
 * for 40 s while the others had finished. A live connection's buffer moves
 * every round trip; timeouts back off from 400 ms, doubling, so 5 s is
 * three in a row. 2 s set connections aside at 0.5 % loss that would have
 * recovered (bench:wan: 4 connections down to 1 within 20 s).
 */
export const LANE_STUCK_MS = 5_000;

/** How long the rate is measured for each decision to add connections. */
export const LANE_MEASURE_MS = 1_500;

/**
 * How much faster the transfer must become for the connections just added
 * to count as paying: below it, no more are added. Smaller would take
 * noise for gain. A judgement.
 */
export const LANE_GAIN = 1.15;

/**
 * No connections are added to a transfer with less than this left: it
 * would end before they paid for their setup.
 */
export const LANE_MIN_BYTES_LEFT = 8 * MiB;
