/* The fan-out benchmark's chunk-header walker in C (bench/fanout_load.py loads it with ctypes when a C compiler
 * is there): the same job as fanout_load.Walker, which stays the reference (tests/test_server_fanout.py checks
 * that both read the same). Steps over an RTMP chunk stream (RTMP 5.3.1) without copying media payloads and
 * keeps the newest media timestamp; a non-media message is collected and handed back to Python.
 *
 * walk(w, buf, n, &used) -> 0: all of buf consumed; 1: a non-media message is complete (w->msg_type, msg_sid,
 * msg_len, msg) after `used` bytes: handle it and call again with the rest; -1: a chunk stream id or message
 * the walker does not hold (> 319, or a command or control message over 8 KiB; larger data messages are
 * skipped, as media are).
 */
#include <stdint.h>
#include <string.h>

#define MAX_CSID 320
#define MSG_CAP 8192   /* commands and control messages are far smaller; larger data messages are skipped */
#define SLOTS 2        /* non-media messages collected at once (on different chunk streams) */

typedef struct {
    uint32_t ts, delta, length, left, msid;
    uint8_t type, ext, used;
} cs_t;

typedef struct {
    int64_t last_ts;
    uint32_t chunk_size;
    uint32_t skip;           /* payload bytes of the current chunk still to come */
    int32_t cur;             /* chunk stream of the chunk in progress */
    uint32_t ncarry;
    uint8_t carry[32];       /* an incomplete header from the previous call */
    uint32_t msg_type, msg_sid, msg_len;
    uint8_t collecting[MAX_CSID];
    cs_t cs[MAX_CSID];
    uint32_t coll_len[MAX_CSID];
    uint8_t msg[MSG_CAP];
    uint8_t coll[SLOTS][MSG_CAP]; /* collected non-media payloads, by slot */
    int8_t slot[MAX_CSID];
} walker_t;

uint32_t walker_size(void) { return sizeof(walker_t); }

void walker_init(walker_t *w) {
    memset(w, 0, sizeof(*w));
    w->last_ts = -1;
    w->chunk_size = 128;
    w->cur = -1;
    for (int i = 0; i < MAX_CSID; i++) w->slot[i] = -1;
}

static uint32_t be24(const uint8_t *p) { return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2]; }
static uint32_t be32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

/* Parse one chunk header at p (avail bytes). 0: incomplete; -1: unsupported; else its length, state applied. */
static int header(walker_t *w, const uint8_t *p, uint32_t avail) {
    static const int mhl[4] = {11, 7, 3, 0};
    if (avail < 1) return 0;
    int fmt = p[0] >> 6, c = p[0] & 0x3f;
    int bh = c >= 2 ? 1 : c == 0 ? 2 : 3;
    int mh = mhl[fmt];
    if (avail < (uint32_t)(bh + mh)) return 0;
    int csid = c >= 2 ? c : c == 0 ? 64 + p[1] : 64 + p[1] + 256 * p[2];
    if (csid >= MAX_CSID) return -1;
    cs_t *st = &w->cs[csid];
    const uint8_t *h = p + bh;
    uint32_t tf = fmt < 3 ? be24(h) : 0;
    int ext = fmt < 3 ? tf == 0xffffff : st->ext;
    if (ext && avail < (uint32_t)(bh + mh + 4)) return 0;
    int fresh = st->left == 0 || fmt < 3;
    if (fmt < 3) {
        if (fmt < 2) {
            st->length = be24(h + 3);
            st->type = h[6];
            if (fmt == 0) st->msid = h[7] | (h[8] << 8) | (h[9] << 16) | ((uint32_t)h[10] << 24);
        }
        st->ext = ext;
        if (ext) tf = be32(h + mh);
        if (fmt == 0) { st->ts = tf; st->delta = tf; }
        else { st->delta = tf; st->ts += tf; }
    } else if (fresh) {
        st->ts += st->delta;
    }
    if (fresh) {
        st->left = st->length;
        if (st->type != 8 && st->type != 9 && !(st->length > MSG_CAP && (st->type == 18 || st->type == 15))) {
            if (st->length > MSG_CAP) return -1;
            if (w->slot[csid] < 0) {
                int used = 0;
                for (int i = 0; i < MAX_CSID; i++) if (w->slot[i] >= 0) used |= 1 << w->slot[i];
                int s = 0;
                while (s < SLOTS && (used >> s) & 1) s++;
                if (s == SLOTS) return -1;
                w->slot[csid] = (int8_t)s;
            }
            w->collecting[csid] = 1;
            w->coll_len[csid] = 0;
        } else {
            w->collecting[csid] = 0;
        }
    }
    uint32_t size = st->left < w->chunk_size ? st->left : w->chunk_size;
    st->left -= size;
    w->cur = csid;
    w->skip = size;
    return bh + mh + (ext ? 4 : 0);
}

/* The message on csid is complete: 1 if it is for Python, else 0. */
static int done(walker_t *w, int csid) {
    cs_t *st = &w->cs[csid];
    if (!w->collecting[csid]) {
        if ((st->type == 8 || st->type == 9) && (int64_t)st->ts > w->last_ts) w->last_ts = st->ts;
        return 0;
    }
    w->collecting[csid] = 0;
    uint32_t n = w->coll_len[csid];
    memcpy(w->msg, w->coll[(int)w->slot[csid]], n);
    w->slot[csid] = -1;
    w->msg_len = n;
    w->msg_type = st->type;
    w->msg_sid = st->msid;
    if (st->type == 1 && n == 4) w->chunk_size = be32(w->msg) & 0x7fffffff;  /* Set Chunk Size (RTMP 5.4.1) */
    return 1;
}

int walk(walker_t *w, const uint8_t *buf, uint32_t n, uint32_t *used) {
    uint32_t pos = 0;
    for (;;) {
        if (w->skip) {
            uint32_t take = n - pos < w->skip ? n - pos : w->skip;
            int csid = w->cur;
            if (w->collecting[csid]) {
                memcpy(w->coll[(int)w->slot[csid]] + w->coll_len[csid], buf + pos, take);
                w->coll_len[csid] += take;
            }
            pos += take;
            w->skip -= take;
            if (w->skip) { *used = pos; return 0; }
            if (w->cs[csid].left == 0 && done(w, csid)) { *used = pos; return 1; }
        }
        if (pos >= n) { *used = pos; return 0; }
        int hl;
        if (w->ncarry) {
            uint8_t tmp[64];
            uint32_t k = n - pos < 32 ? n - pos : 32;
            memcpy(tmp, w->carry, w->ncarry);
            memcpy(tmp + w->ncarry, buf + pos, k);
            hl = header(w, tmp, w->ncarry + k);
            if (hl < 0) return -1;
            if (hl == 0) {
                memcpy(w->carry + w->ncarry, buf + pos, k);  /* still short: all of it was under 32 bytes */
                w->ncarry += k;
                *used = n;
                return 0;
            }
            pos += hl - w->ncarry;
            w->ncarry = 0;
        } else {
            hl = header(w, buf + pos, n - pos);
            if (hl < 0) return -1;
            if (hl == 0) {
                w->ncarry = n - pos;
                memcpy(w->carry, buf + pos, w->ncarry);
                *used = n;
                return 0;
            }
            pos += hl;
        }
        if (w->skip == 0 && done(w, w->cur)) { *used = pos; return 1; }
    }
}

int64_t walker_last_ts(const walker_t *w) { return w->last_ts; }

/* The message walk() just completed: its type, message stream id and payload. */
uint32_t walker_msg(const walker_t *w, uint32_t *type, uint32_t *sid, const uint8_t **data) {
    *type = w->msg_type;
    *sid = w->msg_sid;
    *data = w->msg;
    return w->msg_len;
}
