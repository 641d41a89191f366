import PixyRESP

/// The Lua scripts, each run atomically by Redis.
enum RedisScripts {
    /// The error code ``saveUser`` replies with when another user holds the name
    /// (``RedisError/replyCode``). The reply carries a message after the code: Redis 7 prefixes
    /// `ERR ` to an error reply that is a single word, which would hide the code.
    static let duplicateUsernameReply = "PIXY_DUPLICATE_USERNAME"

    /// KEYS: grant, new refresh-token index key or "". ARGV: expected grant, new grant, ttl ms, id.
    /// Returns 1 when written; otherwise the grant as it is now (nil if gone).
    static let compareAndSetGrant = RedisScript(
        """
        local current = redis.call('GET', KEYS[1])
        if current ~= ARGV[1] then return current end
        redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
        if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3]) end
        return 1
        """)

    /// KEYS: grant, first refresh-token index key, the grant indexes (all, by user, by client).
    /// ARGV: grant, ttl ms, id, end of the grant in Unix ms (the index score).
    static let createGrant = RedisScript(
        """
        if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
        redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
        for i = 3, 5 do redis.call('ZADD', KEYS[i], ARGV[4], ARGV[3]) end
        return 1
        """)

    /// KEYS: user, username, user index. ARGV: id, user, created-at score, username key prefix.
    /// Replies with the error ``duplicateUsernameReply`` when another user holds the name.
    static let saveUser = RedisScript(
        """
        local owner = redis.call('GET', KEYS[2])
        if owner and owner ~= ARGV[1] then return redis.error_reply('\(duplicateUsernameReply) username already exists') end
        local old = redis.call('GET', KEYS[1])
        if old then
            local oldKey = ARGV[4] .. cjson.decode(old)['username']
            if oldKey ~= KEYS[2] then redis.call('DEL', oldKey) end
        end
        redis.call('SET', KEYS[1], ARGV[2])
        redis.call('SET', KEYS[2], ARGV[1])
        redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[1])
        return 1
        """)

    /// KEYS: username, user index. ARGV: user key prefix.
    static let removeUser = RedisScript(
        """
        local id = redis.call('GET', KEYS[1])
        if not id then return 0 end
        redis.call('DEL', KEYS[1], ARGV[1] .. id)
        redis.call('ZREM', KEYS[2], id)
        return 1
        """)

    /// KEYS: client, client index, fingerprint key or "". ARGV: id.
    static let removeClient = RedisScript(
        """
        local removed = redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        if KEYS[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
        return removed
        """)

    /// KEYS: counter. ARGV: now (seconds), window (seconds), TTL (ms). A window that has ended
    /// starts over; returns the count.
    static let recordFailure = RedisScript(
        """
        local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
        if ends <= tonumber(ARGV[1]) then
            redis.call('DEL', KEYS[1])
            redis.call('HSET', KEYS[1], 'ends', tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])))
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        return redis.call('HINCRBY', KEYS[1], 'n', 1)
        """)

    /// KEYS: counter. ARGV: now (s), window (s), window (ms), limit. Counts one attempt unless the
    /// window already holds `limit`; returns 1 when counted, 0 when refused.
    static let reserveAttempt = RedisScript(
        """
        local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
        if ends <= tonumber(ARGV[1]) then
            redis.call('DEL', KEYS[1])
            redis.call('HSET', KEYS[1], 'ends', tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])), 'n', 0)
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') >= tonumber(ARGV[4]) then return 0 end
        redis.call('HINCRBY', KEYS[1], 'n', 1)
        return 1
        """)

    /// KEYS: counter. ARGV: now (s). Takes one attempt back, never below zero, in a live window.
    static let releaseAttempt = RedisScript(
        """
        local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
        if ends <= tonumber(ARGV[1]) then return 0 end
        if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
        return 1
        """)

    /// KEYS: bucket. ARGV: burst, refill per second, now (seconds), TTL (ms). Returns {taken, retry-after}.
    static let takeToken = RedisScript(
        """
        local burst = tonumber(ARGV[1])
        local rate = tonumber(ARGV[2])
        local now = tonumber(ARGV[3])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(state[1]) or burst
        local at = tonumber(state[2]) or now
        tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
        local taken = 0
        if tokens >= 1 then
            tokens = tokens - 1
            taken = 1
        end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        local retry = 0
        if tokens < 1 then retry = math.ceil((1 - tokens) / rate) end
        return {taken, retry}
        """)

    /// KEYS: lock. ARGV: the holder's token.
    static let releaseLock = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
}
